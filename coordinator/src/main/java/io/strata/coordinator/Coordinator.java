package io.strata.coordinator;

import io.strata.engine.util.Bytes;
import io.strata.coordinator.grpc.Channels;
import io.strata.coordinator.grpc.GrpcPipeline;
import io.strata.coordinator.grpc.WorkerClient;
import io.strata.coordinator.placement.ModelProfile;
import io.strata.coordinator.zk.PlanStore;
import io.strata.coordinator.zk.ZkRecords;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.ModelShards;
import io.strata.engine.model.ModelConfig;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A coordinator process: competes for leadership (Curator LeaderLatch; a second coordinator waits as a standby),
 * and as leader keeps the cluster serving: it watches the registered workers, places the model, stores the plan in
 * ZooKeeper (so a new leader takes over the running cluster without reloading), assigns stages, and opens the
 * pipeline once every stage is ready.
 *
 * <p>One thread owns all state: events (membership, worker status, leadership, finished calls) are queued, and after
 * each batch the loop asks the pure {@link Planner} what to do and does it. {@link #pipeline()} answers at once:
 * the pipeline, or a {@link NotReadyException} saying why there is none.
 */
public final class Coordinator implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Coordinator.class);
    public static final String WORKERS = "/workers";
    public static final String LEADER = "/leader";

    /**
     * @param model        the GGUF model to serve (the workers find a file of the same name in their models directory)
     * @param minWorkers   place only once at least this many workers are usable
     * @param settleMillis and once membership has not changed for this long
     * @param checksums    compute per-layer CRC32C of the model and have workers verify their shards
     */
    public record Config(String zk, String root, String id, Path model, int contextLength, int maxSequences, String kvType,
                         String activations, int maxBatch, int minWorkers, long settleMillis, boolean checksums,
                         int sessionTimeoutMs) {
    }

    private final Config config;
    private final CuratorFramework zk;
    private final LeaderLatch latch;
    private final CuratorCache members;
    private final PlanStore plans;
    private final Channels channels = new Channels();
    private final Planner.Target target;
    private final ModelConfig modelConfig;
    private final LinkedBlockingQueue<Runnable> events = new LinkedBlockingQueue<>();
    private final Thread loop;
    private final Object readyLock = new Object();

    // Owned by the loop thread.
    private final Map<String, WorkerInfo> workers = new HashMap<>();
    private final Map<String, WorkerState> states = new HashMap<>();
    private final Map<String, WorkerClient> clients = new HashMap<>();
    private final Set<String> assigning = new HashSet<>();
    private final Map<String, String> excluded = new HashMap<>();
    private boolean leader;
    private Plan plan;
    private boolean opening;
    private long membershipChanged = System.nanoTime();
    private volatile boolean closed;

    // Read by any thread.
    private volatile GrpcPipeline pipeline;
    private volatile String notReady = "starting";
    private volatile String unfit;
    private volatile Map<String, WorkerState> statesView = Map.of();
    private volatile Map<String, WorkerInfo> workersView = Map.of();
    private volatile Map<String, WorkerClient> clientsView = Map.of();

    public Coordinator(Config c) throws Exception {
        this.config = c;
        try (GgufFile f = GgufFile.open(c.model())) {
            modelConfig = ModelConfig.from(f);
            ModelProfile profile = ModelProfile.of(c.model().getFileName().toString(), f, c.contextLength(), c.maxSequences(),
                    c.kvType(), c.maxBatch());
            Plan.Checksums sums = null;
            if (c.checksums()) {
                long t0 = System.nanoTime();
                int[] layers = new int[modelConfig.layers()];
                for (int l = 0; l < layers.length; l++) layers[l] = ModelShards.crc32c(f, ModelShards.layer(f, l), null);
                sums = new Plan.Checksums(layers, ModelShards.crc32c(f, ModelShards.embedding(f), null),
                        ModelShards.crc32c(f, ModelShards.head(f), null));
                log.info("coordinator {}: checksums of {} ({} of tensors) in {} ms", c.id(), c.model(),
                        Bytes.format(f.tensorBytes()), (System.nanoTime() - t0) / 1_000_000);
            }
            ZkRecords.dtype(c.activations());  // validates the name
            target = new Planner.Target(profile, c.model().getFileName().toString(), f.fingerprint(), sums, c.activations(),
                    Math.max(1, c.minWorkers()), c.settleMillis());
        }
        zk = CuratorFrameworkFactory.builder().connectString(c.zk()).namespace(io.strata.coordinator.zk.Namespace.of(c.root()))
                .sessionTimeoutMs(c.sessionTimeoutMs() > 0 ? c.sessionTimeoutMs() : 15_000)
                .connectionTimeoutMs(Math.min(10_000, c.sessionTimeoutMs() > 0 ? c.sessionTimeoutMs() : 15_000))
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000)).build();
        zk.start();
        plans = new PlanStore(zk);
        members = CuratorCache.build(zk, WORKERS);
        members.listenable().addListener(CuratorCacheListener.builder().forAll((type, before, after) -> post(this::readMembers)).build());
        latch = new LeaderLatch(zk, LEADER, c.id());
        latch.addListener(new LeaderLatchListener() {
            @Override
            public void isLeader() {
                post(() -> leadership(true));
            }

            @Override
            public void notLeader() {
                post(() -> leadership(false));
            }
        });
        loop = Thread.ofPlatform().name("coordinator-" + c.id()).daemon().start(this::run);
        if (!zk.blockUntilConnected(30, TimeUnit.SECONDS)) {
            close();
            throw new IllegalStateException("coordinator " + c.id() + ": ZooKeeper at " + c.zk() + " did not answer within 30 s");
        }
        members.start();
        latch.start();
        log.info("coordinator {}: serving {} ({} layers), waiting for leadership", c.id(), c.model(), modelConfig.layers());
    }

    public String id() {
        return config.id();
    }

    public boolean isLeader() {
        return latch.hasLeadership();
    }

    public ModelConfig modelConfig() {
        return modelConfig;
    }

    /** The ready pipeline, or a {@link NotReadyException} saying why there is none. Never blocks. */
    public Pipeline pipeline() {
        GrpcPipeline p = pipeline;
        if (p != null && p.brokenReason() == null) return p;
        String why = p != null ? p.brokenReason() : notReady;
        throw new NotReadyException("no complete pipeline is ready: " + why);
    }

    /** Waits up to {@code timeout} for a ready pipeline; throws {@link NotReadyException} with the reason otherwise. */
    public Pipeline awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (readyLock) {
            while (true) {
                GrpcPipeline p = pipeline;
                if (p != null && p.brokenReason() == null) return p;
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new NotReadyException("no pipeline ready after " + timeout.toSeconds() + " s: " + notReady);
                TimeUnit.NANOSECONDS.timedWait(readyLock, left);
            }
        }
    }

    /**
     * Waits up to {@code timeout} until the reason no pipeline serves satisfies {@code test}; returns the last reason
     * (for tools and tests that wait for a specific state).
     */
    public String awaitReason(java.util.function.Predicate<String> test, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (readyLock) {
            while (true) {
                String why = notReadyReason();
                if (why != null && test.test(why)) return why;
                long left = deadline - System.nanoTime();
                if (left <= 0) return why;
                TimeUnit.NANOSECONDS.timedWait(readyLock, left);
            }
        }
    }

    /** Why no pipeline serves (null when one does). */
    public String notReadyReason() {
        GrpcPipeline p = pipeline;
        if (p != null && p.brokenReason() == null) return null;
        String why = notReady;
        // A pipeline that just broke is not ready even before the loop has re-planned.
        if (why == null) why = p != null ? "the pipeline broke: " + p.brokenReason() : "opening the pipeline";
        return why;
    }

    /**
     * The placement's reason when the usable workers cannot hold the model (null otherwise): no pipeline will come
     * back until workers join. Requests kept across a worker's death fail at once on it.
     */
    public String unplaceableReason() {
        return unfit;
    }

    /** The workers' last reported states (a snapshot; for status reports). */
    public Map<String, WorkerState> workerStates() {
        return statesView;
    }

    /** The registered workers as their ZooKeeper records describe them (a snapshot; for status reports). */
    public Map<String, WorkerInfo> workers() {
        return workersView;
    }

    /**
     * What a worker's process uses now, as its {@code Status} call reports it.
     *
     * @param kvBytes              KV caches allocated
     * @param modelResidentBytes   resident pages of its model mapping (Linux; 0 elsewhere)
     * @param processResidentBytes resident memory of its process (Linux; 0 elsewhere)
     * @param activeSequences      sequences holding a KV cache there
     * @param steps                steps it computed since its assignment
     */
    public record WorkerUsage(long kvBytes, long modelResidentBytes, long processResidentBytes, int activeSequences, long steps) {
    }

    /**
     * Asks a registered worker for its current memory use (one {@code Status} call on its control connection).
     * Fails when the worker is not registered or does not answer.
     */
    public CompletableFuture<WorkerUsage> usage(String workerId) {
        WorkerClient c = clientsView.get(workerId);
        if (c == null) return CompletableFuture.failedFuture(new IllegalArgumentException("worker " + workerId + " is not registered"));
        return c.status().thenApply(s -> new WorkerUsage(s.getKvBytes(), s.getModelResidentBytes(), s.getProcessResidentBytes(),
                s.getActiveSequences(), s.getSteps()));
    }

    /** The plan this coordinator last read or stored (null before one exists). */
    public Plan plan() {
        return plan;
    }

    private void post(Runnable r) {
        events.add(r);
    }

    private void run() {
        while (!closed) {
            Runnable r;
            try {
                r = events.poll(250, TimeUnit.MILLISECONDS);  // the tick lets time-based conditions (settling) advance
            } catch (InterruptedException e) {
                return;
            }
            try {
                if (r != null) r.run();
                for (Runnable more; (more = events.poll()) != null; ) more.run();
                reconcile();
            } catch (RuntimeException e) {
                log.error("coordinator {}: loop error", config.id(), e);
            }
        }
    }

    private void leadership(boolean now) {
        if (now == leader) return;
        leader = now;
        if (now) {
            log.info("coordinator {}: became the leader", config.id());
            try {
                plan = plans.read();
                if (plan != null) log.info("coordinator {}: took over {}", config.id(), plan.describe());
            } catch (Exception e) {
                log.warn("coordinator {}: cannot read the plan: {}", config.id(), e.getMessage());
            }
        } else {
            log.info("coordinator {}: lost the leadership", config.id());
            breakPipeline("this coordinator lost the leadership");
        }
    }

    private void readMembers() {
        Map<String, WorkerInfo> now = new HashMap<>();
        for (ChildData d : members.stream().toList()) {
            String path = d.getPath();
            if (!path.startsWith(WORKERS + "/") || path.indexOf('/', WORKERS.length() + 1) >= 0 || d.getData() == null) continue;
            try {
                WorkerInfo w = ZkRecords.worker(ZkRecords.workerRecord(d.getData()));
                now.put(w.id(), w);
            } catch (Exception e) {
                log.warn("coordinator {}: unreadable worker record {}: {}", config.id(), path, e.getMessage());
            }
        }
        for (String id : List.copyOf(workers.keySet())) {
            WorkerInfo old = workers.get(id);
            WorkerInfo w = now.get(id);
            if (w == null || !w.address().equals(old.address())) {
                workers.remove(id);
                states.remove(id);
                excluded.remove(id);
                WorkerClient c = clients.remove(id);
                if (c != null) c.close();
                membershipChanged = System.nanoTime();
                log.info("coordinator {}: worker {} left ({})", config.id(), id, old.address());
            }
        }
        for (WorkerInfo w : now.values()) {
            if (!workers.containsKey(w.id())) {
                membershipChanged = System.nanoTime();
                log.info("coordinator {}: worker {} joined ({}, {} usable)", config.id(), w.id(), w.address(),
                        Bytes.format(w.usableMemoryBytes()));
            }
            workers.put(w.id(), w);
            clients.computeIfAbsent(w.id(), id -> new WorkerClient(id, w.address(), channels.get(w.address()),
                    "coordinator " + config.id(), s -> post(() -> state(id, s))));
        }
        workersView = Map.copyOf(workers);
        clientsView = Map.copyOf(clients);
    }

    private void state(String id, WorkerState s) {
        if (!workers.containsKey(id)) return;
        WorkerState old = states.put(id, s);
        statesView = Map.copyOf(states);
        if (old == null || old.phase() != s.phase() || !old.error().equals(s.error())) {
            log.debug("coordinator {}: worker {} is {}", config.id(), id, s.describe());
        }
    }

    private void reconcile() {
        if (closed) return;
        GrpcPipeline p = pipeline;
        boolean open = p != null && p.brokenReason() == null;
        if (p != null && !open) {
            pipeline = null;  // broken by a stream failure: forget it, the planner decides what next
        }
        Planner.View v = new Planner.View(leader, target, Map.copyOf(workers), Map.copyOf(states), plan, Set.copyOf(assigning),
                Map.copyOf(excluded), open || opening, (System.nanoTime() - membershipChanged) / 1_000_000);
        Planner.Decision d = Planner.decide(v, config.id());
        for (Planner.Action a : d.actions()) act(a);
        unfit = d.unfit();
        String why = d.notReady();
        if (why == null && pipeline == null) why = "opening the pipeline of " + (plan == null ? "?" : plan.describe());
        if (!java.util.Objects.equals(why, notReady)) {
            if (why != null) log.info("coordinator {}: not ready: {}", config.id(), why);
            notReady = why;
            synchronized (readyLock) {
                readyLock.notifyAll();
            }
        }
    }

    private void act(Planner.Action a) {
        switch (a) {
            case Planner.StorePlan s -> {
                try {
                    plans.write(s.plan(), latch.getOurPath());
                    plan = s.plan();
                    log.info("coordinator {}: stored {}", config.id(), plan.describe());
                } catch (Exception e) {
                    log.warn("coordinator {}: could not store {}: {}", config.id(), s.plan().describe(), e.toString());
                }
            }
            case Planner.Assign s -> {
                WorkerClient c = clients.get(s.workerId());
                if (c == null) return;
                assigning.add(s.workerId());
                Plan forPlan = plan;
                c.assign(forPlan, s.stage()).whenComplete((reply, err) -> post(() -> {
                    assigning.remove(s.workerId());
                    if (err != null && forPlan == plan) {
                        excluded.put(s.workerId(), "cannot take layers " + s.stage().range() + ": " + err.getMessage());
                        log.warn("coordinator {}: worker {} refused layers {}: {}", config.id(), s.workerId(), s.stage().range(), err.getMessage());
                    }
                    // The reply's status is not applied: the Watch stream reports every change in order, and a reply
                    // processed after a later Watch event would roll the state back.
                }));
            }
            case Planner.Release r -> {
                WorkerClient c = clients.get(r.workerId());
                if (c == null) return;
                assigning.add(r.workerId());
                c.release().whenComplete((reply, err) -> post(() -> assigning.remove(r.workerId())));
            }
            case Planner.Exclude e -> {
                excluded.put(e.workerId(), e.reason());
                log.warn("coordinator {}: leaving worker {} out: {}", config.id(), e.workerId(), e.reason());
            }
            case Planner.OpenPipeline o -> open();
            case Planner.BreakPipeline b -> breakPipeline(b.reason());
        }
    }

    private void open() {
        if (opening) return;
        opening = true;
        Plan forPlan = plan;
        Pipeline.Info info = new Pipeline.Info(forPlan.version(), forPlan.stages().size(), forPlan.fileName(), modelConfig.vocab(),
                modelConfig.dim(), forPlan.contextLength(), forPlan.maxSequences(), forPlan.maxBatch());
        Thread.ofPlatform().name("open-pipeline").daemon().start(() -> {
            GrpcPipeline p = null;
            String err = null;
            try {
                p = GrpcPipeline.open(forPlan, info, "coordinator " + config.id(), channels::get);
            } catch (RuntimeException e) {
                err = e.getMessage();
            }
            GrpcPipeline made = p;
            String why = err;
            post(() -> {
                opening = false;
                if (made == null) {
                    log.warn("coordinator {}: could not open the pipeline: {}", config.id(), why);
                    notReady = why;
                    return;
                }
                if (!leader || forPlan != plan) {
                    made.close();
                    return;
                }
                pipeline = made;
                log.info("coordinator {}: pipeline ready: {}", config.id(), forPlan.describe());
                synchronized (readyLock) {
                    readyLock.notifyAll();
                }
            });
        });
    }

    private void breakPipeline(String reason) {
        GrpcPipeline p = pipeline;
        pipeline = null;
        if (p != null) {
            log.warn("coordinator {}: pipeline broken: {}", config.id(), reason);
            p.fail(reason);
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        loop.interrupt();
        GrpcPipeline p = pipeline;
        if (p != null) p.fail("coordinator " + config.id() + " is shutting down");
        for (WorkerClient c : clients.values()) c.close();
        try {
            latch.close();
        } catch (Exception e) {
            log.debug("closing the latch", e);
        }
        members.close();
        zk.close();
        channels.close();
    }
}
