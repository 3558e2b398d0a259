package io.strata.coordinator;

import io.strata.engine.sample.StageSampling;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A ready pipeline of stages, as a scheduler sees it: submit a step (a batch of sequences, each with its tokens and
 * positions), get the sampled token ids back asynchronously; release sequences to free their KV caches on every
 * stage. Steps are processed in submission order by every stage; up to {@link #maxInFlight()} may be outstanding
 * before submissions wait for transport credit (so with N stages, N micro-batches keep every stage busy).
 *
 * <p>Futures complete on a transport thread: dependents must not block. When any stage goes away, every
 * outstanding future fails with a {@link PipelineException} naming the stage, the worker and why, and later calls
 * fail at once.
 */
public interface Pipeline extends AutoCloseable {

    /**
     * One sequence's rows in a step: {@code tokens} at positions {@code startPosition ..}. A sequence starts at
     * position 0 (its KV cache is taken then) and continues from where it is; a chunk may rewind.
     *
     * @param sample       pick a token from the last row (false for a prefill chunk that is not the last)
     * @param topLogprobs  also return this many most likely tokens with their log-probabilities
     * @param returnLogits return the logits of every row (for verification; {@code rows x vocab} floats)
     */
    record SeqStep(long seqId, int startPosition, int[] tokens, boolean sample, StageSampling sampling, boolean logprobs,
                   int topLogprobs, boolean returnLogits) {
        public static SeqStep greedy(long seqId, int startPosition, int[] tokens) {
            return new SeqStep(seqId, startPosition, tokens, true, StageSampling.GREEDY, false, 0, false);
        }
    }

    /** A sequence's outcome in a step: the sampled token (-1 when not sampled), and what was asked besides. */
    record SeqOutput(long seqId, int token, float logprob, int[] topTokens, float[] topLogprobs, int logitRows,
                     float[] logits) {
    }

    /** A sequence that a stage dropped from a step; {@code code} is a gRPC status code name. */
    record SeqError(long seqId, String code, String message) {
    }

    /** Time one stage spent on the step. */
    record StageTime(int stage, String workerId, long queuedNanos, long computeNanos) {
    }

    record StepResult(long stepId, List<SeqOutput> outputs, List<SeqError> errors, List<StageTime> timings,
                      long roundTripNanos) {
        public SeqOutput output(long seqId) {
            for (SeqOutput o : outputs) if (o.seqId() == seqId) return o;
            return null;
        }

        public SeqError error(long seqId) {
            for (SeqError e : errors) if (e.seqId() == seqId) return e;
            return null;
        }

        /** Sum of the stages' compute time. */
        public long computeNanos() {
            long n = 0;
            for (StageTime t : timings) n += t.computeNanos();
            return n;
        }
    }

    /** What the pipeline serves. */
    record Info(long planVersion, int stages, String model, int vocab, int dim, int contextLength, int maxSequences,
                int maxBatch) {
    }

    CompletableFuture<StepResult> submit(List<SeqStep> seqs);

    CompletableFuture<Void> release(long... seqIds);

    int maxInFlight();

    Info info();

    /** Null while the pipeline works; otherwise why it does not. */
    String brokenReason();

    @Override
    void close();
}
