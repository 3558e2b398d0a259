package io.strata.coordinator.scheduler;

import io.strata.coordinator.Coordinator;
import io.strata.coordinator.NotReadyException;
import io.strata.coordinator.Pipeline;
import io.strata.coordinator.Plan;
import io.strata.coordinator.WorkerState;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The cluster's pipeline of worker processes (gRPC, {@link Pipeline}) as the scheduler sees it. Always talks to the
 * coordinator's current pipeline: when a new plan replaces it, later steps go to the new one (sequences that were
 * running on the old one fail there with the stage's message, and their clients get the error).
 *
 * <p>KV caches are allocated up front on the workers: {@link Plan#maxSequences()} caches of
 * {@link Plan#contextLength()} positions per stage.
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
        List<StageInfo> out = new ArrayList<>(plan.stages().size());
        for (Plan.Stage s : plan.stages()) {
            WorkerState st = states.get(s.workerId());
            boolean ready = st != null && st.phase() == WorkerState.Phase.READY && st.holds(plan.version(), s.first(), s.end());
            // the backend and process memory are in the workers' records, which the coordinator does not expose yet
            out.add(new StageInfo(s.index(), s.first(), s.end(), s.workerId(), "", ready, s.weightBytes(), s.kvBytes(), 0));
        }
        return out;
    }

    @Override
    public boolean ready() {
        return coordinator.notReadyReason() == null;
    }

    @Override
    public int depth() {
        Plan plan = coordinator.plan();
        return plan == null ? 1 : Math.max(1, plan.stages().size());
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
        List<SeqFailure> refused = new ArrayList<>();
        for (Row r : batch.rows()) {
            Sampling s = r.sampling();
            if (s.penalized()) {
                // the workers' sampler has no repetition penalties: refuse the sequence rather than ignore them
                refused.add(new SeqFailure(r.seq(), "frequency and presence penalties are not supported by the workers' sampler"));
                continue;
            }
            Pipeline.Sampling ps = s.greedy() ? Pipeline.Sampling.GREEDY
                    : new Pipeline.Sampling(s.temperature(), s.topK(), s.topP(), 0f, s.seed());
            steps.add(new Pipeline.SeqStep(r.seq(), r.start(), r.tokens(), r.sample(), ps, s.logprobs(), s.topLogprobs(), false));
        }
        if (steps.isEmpty()) return CompletableFuture.completedFuture(new Result(batch.id(), List.of(), refused, List.of()));
        return p.submit(steps).thenApply(r -> translate(batch.id(), r, refused));
    }

    private static Result translate(long batchId, Pipeline.StepResult r, List<SeqFailure> refused) {
        List<SeqOutput> outputs = new ArrayList<>(r.outputs().size());
        for (Pipeline.SeqOutput o : r.outputs()) {
            if (o.token() < 0) continue;
            List<TokenLogprob> top = new ArrayList<>(o.topTokens().length);
            for (int i = 0; i < o.topTokens().length; i++) top.add(new TokenLogprob(o.topTokens()[i], o.topLogprobs()[i]));
            outputs.add(new SeqOutput(o.seqId(), o.token(), o.logprob(), List.copyOf(top)));
        }
        List<SeqFailure> failures = new ArrayList<>(refused);
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
