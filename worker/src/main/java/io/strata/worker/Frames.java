package io.strata.worker;

import java.util.List;

/**
 * What travels through a stage, as plain records: the gRPC adapters translate {@code strata.v1} messages to and from
 * these, and nothing else in the worker sees a proto class.
 */
public final class Frames {
    private Frames() {
    }

    /**
     * How the last stage picks a token; {@code temperature == 0} is greedy argmax, lowest id on ties. The frequency and
     * presence penalties (OpenAI's) count the tokens sampled for the sequence so far, not its prompt.
     * {@code generated}: the tokens the sequence generated before this pipeline saw it (a replay after a worker died;
     * empty otherwise); the last stage's sampler starts from them (penalty history, index of the next seeded draw).
     */
    public record Sampling(float temperature, int topK, float topP, float minP, long seed, float frequencyPenalty,
                           float presencePenalty, int[] generated) {
        private static final int[] NONE = new int[0];
        public static final Sampling GREEDY = new Sampling(0f, 0, 0f, 0f, 0L);

        public Sampling {
            generated = generated == null ? NONE : generated;
        }

        /** A sequence this pipeline sees from its first token. */
        public Sampling(float temperature, int topK, float topP, float minP, long seed, float frequencyPenalty,
                        float presencePenalty) {
            this(temperature, topK, topP, minP, seed, frequencyPenalty, presencePenalty, NONE);
        }

        /** Without penalties. */
        public Sampling(float temperature, int topK, float topP, float minP, long seed) {
            this(temperature, topK, topP, minP, seed, 0f, 0f);
        }

        public boolean greedy() {
            return temperature <= 0f;
        }

        public boolean penalized() {
            return frequencyPenalty != 0f || presencePenalty != 0f;
        }
    }

    /**
     * The rows of one sequence in a step: positions {@code start .. start+rows-1}.
     *
     * @param sample       last stage: pick a token from the chunk's last row
     * @param logprobs     last stage: report the sampled token's log-probability
     * @param topLogprobs  last stage: report this many most likely tokens
     * @param returnLogits last stage: return the logits of every row
     */
    public record Chunk(long seqId, int start, int rows, boolean sample, Sampling sampling, boolean logprobs,
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
