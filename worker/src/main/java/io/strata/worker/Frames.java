package io.strata.worker;

import io.strata.engine.sample.StageSampling;
import java.util.List;

/**
 * What travels through a stage, as plain records: the gRPC adapters translate {@code strata.v1} messages to and from
 * these, and nothing else in the worker sees a proto class.
 */
public final class Frames {
    private Frames() {
    }

    /**
     * The rows of one sequence in a step: positions {@code start .. start+rows-1}.
     *
     * @param sample       last stage: pick a token from the chunk's last row
     * @param logprobs     last stage: report the sampled token's log-probability
     * @param topLogprobs  last stage: report this many most likely tokens
     * @param returnLogits last stage: return the logits of every row
     */
    public record Chunk(long seqId, int start, int rows, boolean sample, StageSampling sampling, boolean logprobs,
                        int topLogprobs, boolean returnLogits) {
    }

    /** A sequence dropped from a step, with the reason (a gRPC status code name and a message naming the stage). */
    public record SeqFailure(long seqId, String code, String message) {
    }

    /** What one stage spent on a step. */
    public record Timing(int stage, String workerId, long queuedNanos, long computeNanos) {
    }

    /**
     * One step entering a stage. Rows follow {@code chunks} in order: {@code tokens[rows]} on stage 0,
     * {@code hidden[rows][dim]} after it.
     *
     * @param arrivedNanos {@link System#nanoTime()} at arrival, for the queue time
     */
    public record Step(long stepId, List<Chunk> chunks, int[] tokens, float[] hidden, List<SeqFailure> failures,
                       List<Timing> timings, long arrivedNanos) {
        public int rows() {
            int n = 0;
            for (Chunk c : chunks) n += c.rows();
            return n;
        }
    }

    /** Frees sequences' KV caches on this stage and every later one. */
    public record Release(long releaseId, long[] seqIds, boolean all) {
    }

    /** Last stage: the sampled token (or -1) of one sequence, with optional log-probabilities and logits. */
    public record SeqOutput(long seqId, int token, float logprob, int[] topTokens, float[] topLogprobs,
                            int logitRows, float[] logits) {
    }

    /** Last stage: the outcome of one step. */
    public record StepResult(long stepId, List<SeqOutput> outputs, List<SeqFailure> failures, List<Timing> timings) {
    }
}
