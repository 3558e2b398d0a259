package io.strata.worker;

import io.strata.engine.util.Bytes;
import io.strata.engine.backend.Backend;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The one stage a worker holds, through its life: {@code IDLE → LOADING → LINKING → READY}, or {@code FAILED} with
 * the reason. Assignments load on their own thread (the control call returns at once); a new assignment of the same
 * shard keeps the weights and only relinks. Listeners hear every change (the Watch streams, the ZooKeeper record).
 */
public final class StageSlot implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StageSlot.class);

    public enum State { IDLE, LOADING, LINKING, READY, FAILED }

    /** A snapshot of the slot. */
    public record Status(State state, Assignment assignment, String error, long weightBytes, long loadedBytes,
                         long kvBytes, long loadNanos, int activeSequences, long steps, long loads, long warmupFrames) {
    }

    /** Connects a loaded stage to the next stage's worker (the gRPC adapter implements it). */
    public interface Linker {
        /**
         * Opens the stream to {@code a.next()}, completes its handshake and warms it up, or throws with the reason.
         *
         * @param onBroken told when the link breaks later
         */
        StageOutput connect(Assignment a, java.util.function.Consumer<String> onBroken) throws Exception;
    }

    private final String workerId;
    private final Backend backend;
    private final ShardLoader loader;
    private final Linker linker;
    private final int queueCapacity;
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private final AtomicLong loadedBytes = new AtomicLong();

    // Guarded by this.
    private long generation;
    private State state = State.IDLE;
    private Assignment assignment;
    private String error = "";
    private ShardLoader.Shard shard;
    private StageHost host;
    private Thread task;
    private long loadNanos;
    private long loads;
    private long weightBytes;

    public StageSlot(String workerId, Backend backend, ShardLoader loader, Linker linker, int queueCapacity) {
        this.workerId = workerId;
        this.backend = backend;
        this.loader = loader;
        this.linker = linker;
        this.queueCapacity = queueCapacity;
    }

    public void addListener(Runnable r) {
        listeners.add(r);
    }

    public void removeListener(Runnable r) {
        listeners.remove(r);
    }

    private void changed() {
        for (Runnable r : listeners) {
            try {
                r.run();
            } catch (RuntimeException e) {
                log.warn("status listener failed", e);
            }
        }
    }

    public synchronized Status status() {
        StageHost h = host;
        return new Status(state, assignment, error, weightBytes, loadedBytes.get(), shard == null ? 0 : shard.kvBytes(),
                loadNanos, h == null ? 0 : h.activeSequences(), h == null ? 0 : h.steps(), loads,
                h == null ? 0 : h.warmupFrames());
    }

    /**
     * The files the loaded stage's weights are mapped from, for resident-memory reports: the model file and the
     * backend's copies of weights (the CPU backend's interleaved layout); empty when none is loaded.
     */
    public synchronized java.util.Set<java.nio.file.Path> modelPaths() {
        if (shard == null) return java.util.Set.of();
        java.util.Set<java.nio.file.Path> all = new java.util.HashSet<>(shard.file().paths());
        all.addAll(backend.weightCopyFiles());
        return java.util.Set.copyOf(all);
    }

    /** The running stage, or null when none is loaded. */
    public synchronized StageHost host() {
        return host;
    }

    public synchronized Assignment assignment() {
        return assignment;
    }

    /**
     * Takes an assignment. Returns true when the weights were kept (same shard already loaded). Refusals found
     * without loading (file missing, fingerprint, memory) throw {@link LoadException} and leave the slot
     * FAILED with the reason.
     */
    public boolean assign(Assignment a) {
        boolean kept;
        synchronized (this) {
            if (a.sameShard(assignment) && a.planVersion() == assignment.planVersion()
                    && java.util.Objects.equals(a.next(), assignment.next())
                    && (state == State.LOADING || state == State.LINKING || state == State.READY)) {
                return true;  // the same assignment again (e.g. from a new leader): nothing to do
            }
            generation++;
            long gen = generation;
            if (shard != null && a.sameShard(assignment) && (state == State.LINKING || state == State.READY)) {
                kept = true;
                boolean sameLinks = a.planVersion() == assignment.planVersion() && java.util.Objects.equals(a.next(), assignment.next());
                assignment = a;
                if (!sameLinks || state != State.READY) {
                    stopTask();
                    restartHost();
                    startLink(gen);
                }
                log.info("worker {}: kept layers {} for plan {}", workerId, a.range(), a.planVersion());
            } else {
                kept = false;
                teardown();
                assignment = a;
                ShardLoader.Plan plan;
                try {
                    plan = loader.check(a);
                } catch (LoadException e) {
                    state = State.FAILED;
                    error = e.getMessage();
                    log.warn("worker {}: refused {}: {}", workerId, a.range(), e.getMessage());
                    changed();
                    throw e;
                }
                state = State.LOADING;
                error = "";
                weightBytes = plan.weightBytes();
                loadedBytes.set(0);
                task = Thread.ofPlatform().name("load-" + workerId).daemon().start(() -> load(gen, a, plan));
            }
        }
        changed();
        return kept;
    }

    private void load(long gen, Assignment a, ShardLoader.Plan plan) {
        long t0 = System.nanoTime();
        ShardLoader.Shard s;
        try {
            s = loader.load(a, plan, backend, loadedBytes::set);
        } catch (RuntimeException e) {
            synchronized (this) {
                if (gen != generation) return;
                state = State.FAILED;
                error = e.getMessage();
            }
            log.warn("worker {}: loading layers {} failed: {}", workerId, a.range(), e.getMessage());
            changed();
            return;
        }
        synchronized (this) {
            if (gen != generation) {
                s.close();
                return;
            }
            shard = s;
            loadNanos = System.nanoTime() - t0;
            loads++;
            log.info("worker {}: loaded layers {} of {} ({} weights, {} KV) in {} ms", workerId, a.range(), a.fileName(),
                    Bytes.format(s.weightBytes()), Bytes.format(s.kvBytes()), loadNanos / 1_000_000);
            restartHost();
            startLink(gen);
        }
        changed();
    }

    /** A fresh host over the loaded shard (all sequences free). Caller holds the lock. */
    private void restartHost() {
        closeHost();
        host = new StageHost(workerId, assignment.stage(), shard.stage(), shard.caches(), queueCapacity, this::broken);
    }

    /** Stops the host and closes its output. Caller holds the lock. */
    private void closeHost() {
        if (host == null) return;
        StageOutput o = host.output();
        host.close();
        host = null;
        closeOutput(o);
    }

    /** Closes an output the slot no longer uses (a link to the next stage); failures to close are only logged. */
    private static void closeOutput(StageOutput o) {
        if (o instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                log.debug("closing output", e);
            }
        }
    }

    /** Links to the next stage (or, on the last stage, becomes ready at once). Caller holds the lock. */
    private void startLink(long gen) {
        if (assignment.last()) {
            state = State.READY;
            error = "";
            return;
        }
        state = State.LINKING;
        Assignment a = assignment;
        StageHost h = host;
        task = Thread.ofPlatform().name("link-" + workerId).daemon().start(() -> link(gen, a, h));
    }

    private void link(long gen, Assignment a, StageHost h) {
        long backoff = 20;
        while (true) {
            synchronized (this) {
                if (gen != generation) return;
            }
            try {
                StageOutput[] made = new StageOutput[1];
                StageOutput out = linker.connect(a, reason -> {
                    if (made[0] != null) broken(made[0], reason);
                });
                made[0] = out;
                synchronized (this) {
                    if (gen != generation) {
                        // Released or reassigned while linking (the warm-up takes seconds): the stream is not ours.
                        closeOutput(out);
                        return;
                    }
                    h.setOutput(out);
                    state = State.READY;
                    error = "";
                }
                log.info("worker {}: stage {} linked to {} ({})", workerId, a.stage(), a.next().workerId(), a.next().address());
                changed();
                return;
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                String why = "waiting for the next stage, worker " + a.next().workerId() + " at " + a.next().address()
                        + " (layers [" + a.next().first() + ", " + a.next().end() + ")): " + e.getMessage();
                boolean news;
                synchronized (this) {
                    if (gen != generation) return;
                    news = !why.equals(error);
                    error = why;
                }
                if (news) {
                    log.info("worker {}: {}", workerId, why);
                    changed();
                }
            }
            try {
                Thread.sleep(backoff);  // retry pacing of the link loop, not a test wait
            } catch (InterruptedException e) {
                return;
            }
            backoff = Math.min(1000, backoff * 2);
        }
    }

    /** The host's output broke: on a middle stage, relink (the coordinator sees LINKING and fails what was in flight). */
    private void broken(StageOutput which, String reason) {
        synchronized (this) {
            if (assignment == null || assignment.last() || state != State.READY) return;
            StageHost h = host;
            if (h == null || h.output() != which) return;
            h.setOutput(null);
            closeOutput(which);
            state = State.LINKING;
            error = "lost the next stage: " + reason;
            startLinkKeepingState(generation);
        }
        changed();
    }

    private void startLinkKeepingState(long gen) {
        Assignment a = assignment;
        StageHost h = host;
        task = Thread.ofPlatform().name("link-" + workerId).daemon().start(() -> link(gen, a, h));
    }

    public void release() {
        synchronized (this) {
            generation++;
            teardown();
            state = State.IDLE;
            error = "";
            assignment = null;
        }
        changed();
    }

    /** Stops loading or linking, closes the stage and frees its memory. Caller holds the lock. */
    private void teardown() {
        stopTask();
        closeHost();
        if (shard != null) {
            shard.close();
            shard = null;
        }
        weightBytes = 0;
        loadedBytes.set(0);
    }

    private void stopTask() {
        Thread t = task;
        task = null;
        if (t != null && t != Thread.currentThread()) {
            t.interrupt();
            // A load in progress stops at its next chunk; do not wait for it under the lock.
        }
    }

    @Override
    public void close() {
        release();
    }
}
