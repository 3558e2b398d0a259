package io.strata.coordinator.scheduler;

import io.strata.engine.sample.StageSampling;
import io.strata.coordinator.Coordinator;
import io.strata.coordinator.NotReadyException;
import io.strata.coordinator.Pipeline;
import io.strata.coordinator.Plan;
import io.strata.coordinator.WorkerInfo;
import io.strata.coordinator.WorkerState;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The cluster's pipeline of worker processes (gRPC, {@link Pipeline}) as the scheduler sees it. Always talks to the
 * coordinator's current pipeline: when a new plan replaces it, later steps go to the new one. A step that fails
 * because the pipeline broke is {@linkplain #recoverable recoverable}: the {@link Scheduler} keeps its sequences and
 * replays them on the next pipeline the coordinator opens, unless the coordinator finds the model no longer fits
 * ({@link #unrecoverable}).
 *
 * <p>KV caches are allocated up front on the workers: {@link Plan#maxSequences()} caches of
 * {@link Plan#contextLength()} positions per stage.
 *
 * <p>{@link #stages()} describes each stage with its worker's registration (backend, memory budget, measured
 * bandwidth and time per layer) and its process's current memory (asked with a {@code Status} call at most once a
 * second).
 */
public final class ClusterPipeline implements PipelineExecutor {
    private final Coordinator coordinator;

    public ClusterPipeline(Coordinator coordinator) {
        this.coordinator = coordinator;
    }

    @Override
    public List<StageInfo> stages() {
        Plan plan = coordinator.plan();
        if (plan == null) return List.of();
        Map<String, WorkerState> states = coordinator.workerStates();
        Map<String, WorkerInfo> infos = coordinator.workers();
        Map<String, Coordinator.WorkerUsage> used = usage(plan);
        List<StageInfo> out = new ArrayList<>(plan.stages().size());
        for (Plan.Stage s : plan.stages()) {
            WorkerState st = states.get(s.workerId());
            boolean ready = st != null && st.phase() == WorkerState.Phase.READY && st.holds(plan.version(), s.first(), s.end());
            WorkerInfo w = infos.get(s.workerId());
            Coordinator.WorkerUsage u = used.get(s.workerId());
            out.add(new StageInfo(s.index(), s.first(), s.end(), s.workerId(), w == null ? "" : w.backend(), ready, s.weightBytes(),
                    u == null ? s.kvBytes() : u.kvBytes(), u == null ? 0 : u.processResidentBytes(), w == null ? 0 : w.usableMemoryBytes(),
                    u == null ? 0 : u.modelResidentBytes(), w == null ? 0 : w.bandwidthBytesPerSecond(),
                    w == null ? 0 : w.secondsPerLayer().getOrDefault(plan.fingerprint(), 0.0)));
        }
        return out;
    }

    /**
     * The plan's workers' memory use, at most {@link #USAGE_MAX_AGE_NANOS} old: a refresh (one {@code Status} call per
     * worker) starts when the last is older; callers get the last complete answer at once, except the very first
     * caller, who waits for it (bounded by {@link #USAGE_TIMEOUT_MILLIS}). A worker that does not answer is absent.
     */
    private Map<String, Coordinator.WorkerUsage> usage(Plan plan) {
        long now = System.nanoTime();
        if (now - usageStarted < USAGE_MAX_AGE_NANOS || !refreshing.compareAndSet(false, true)) return usage;
        usageStarted = now;
        Map<String, Coordinator.WorkerUsage> next = new ConcurrentHashMap<>();
        List<CompletableFuture<?>> calls = new ArrayList<>(plan.stages().size());
        for (Plan.Stage s : plan.stages()) {
            calls.add(coordinator.usage(s.workerId()).orTimeout(USAGE_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS)
                    .thenAccept(u -> next.put(s.workerId(), u)));
        }
        CompletableFuture<Void> all = CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).handle((x, e) -> {
            usage = Map.copyOf(next);
            refreshing.set(false);
            return null;
        });
        if (first) {
            first = false;
            try {
                all.get(USAGE_TIMEOUT_MILLIS + 100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                // reported as unknown; the next call tries again
            }
        }
        return usage;
    }

    private static final long USAGE_MAX_AGE_NANOS = 1_000_000_000L;
    private static final long USAGE_TIMEOUT_MILLIS = 2_000;
    private final AtomicBoolean refreshing = new AtomicBoolean();
    private volatile Map<String, Coordinator.WorkerUsage> usage = Map.of();
    private volatile long usageStarted = System.nanoTime() - 2 * USAGE_MAX_AGE_NANOS;
    private volatile boolean first = true;

    @Override
    public boolean ready() {
        return coordinator.notReadyReason() == null;
    }

    /**
     * Every whole-step failure of the cluster's pipeline is one the coordinator recovers from: a stage's worker died or
     * became unreachable (the coordinator re-places the model on the workers left), or no pipeline was open.
     */
    @Override
    public boolean recoverable(Throwable stepError) {
        return true;
    }

    @Override
    public String unrecoverable() {
        return coordinator.unplaceableReason();
    }

    @Override
    public String notReadyReason() {
        return coordinator.notReadyReason();
    }

    /** The plan's {@link Plan#concurrentStages stages that can compute at once}: one per stage on separate hosts. */
    @Override
    public int depth() {
        Plan plan = coordinator.plan();
        return plan == null ? 1 : plan.concurrentStages(coordinator.workers());
    }

    @Override
    public int vocabSize() {
        return coordinator.modelConfig().vocab();
    }

    @Override
    public KvLimits kvLimits() {
        Plan plan = coordinator.plan();
        if (plan == null) {
            int ctx = coordinator.modelConfig().contextLength();
            return new KvLimits(1, ctx, ctx);
        }
        return new KvLimits(plan.maxSequences(), plan.contextLength(), (long) plan.maxSequences() * plan.contextLength());
    }

    @Override
    public CompletableFuture<Result> submit(Batch batch) {
        Pipeline p;
        try {
            p = coordinator.pipeline();
        } catch (NotReadyException e) {
            return CompletableFuture.failedFuture(new PipelineException(e.getMessage(), e));
        }
        List<Pipeline.SeqStep> steps = new ArrayList<>(batch.rows().size());
        for (Row r : batch.rows()) {
            Sampling s = r.sampling();
            steps.add(new Pipeline.SeqStep(r.seq(), r.start(), r.tokens(), r.sample(), wire(s, r.generated()), s.logprobs(),
                    s.topLogprobs(), false));
        }
        return p.submit(steps).thenApply(r -> translate(batch.id(), r));
    }

    /**
     * The request's sampling for the workers' last stage, which samples with the engine's sampler as
     * {@link LocalPipeline} does: the same parameters give the same tokens (no min-p; penalties over the sampled tokens).
     * {@code generated}: the tokens generated before a replay, which the last stage's sampler starts from.
     */
    static StageSampling wire(Sampling s, int[] generated) {
        if (s.greedy() && !s.penalized()) return StageSampling.GREEDY;
        return new StageSampling(s.temperature(), s.topK(), s.topP(), 0f, s.seed(), s.frequencyPenalty(), s.presencePenalty(),
                generated);
    }

    private static Result translate(long batchId, Pipeline.StepResult r) {
        List<SeqOutput> outputs = new ArrayList<>(r.outputs().size());
        for (Pipeline.SeqOutput o : r.outputs()) {
            if (o.token() < 0) continue;
            List<TokenLogprob> top = new ArrayList<>(o.topTokens().length);
            for (int i = 0; i < o.topTokens().length; i++) top.add(new TokenLogprob(o.topTokens()[i], o.topLogprobs()[i]));
            outputs.add(new SeqOutput(o.seqId(), o.token(), o.logprob(), List.copyOf(top)));
        }
        List<SeqFailure> failures = new ArrayList<>(r.errors().size());
        for (Pipeline.SeqError e : r.errors()) failures.add(new SeqFailure(e.seqId(), e.code() + ": " + e.message()));
        List<StageTime> timings = new ArrayList<>(r.timings().size());
        for (Pipeline.StageTime t : r.timings()) timings.add(new StageTime(t.stage(), t.queuedNanos(), t.computeNanos()));
        return new Result(batchId, outputs, failures, timings);
    }

    @Override
    public void release(long seq) {
        try {
            coordinator.pipeline().release(seq);
        } catch (NotReadyException e) {
            // no pipeline: its caches went with it
        }
    }

    @Override
    public void close() {
        // the coordinator owns the pipeline
    }
}
