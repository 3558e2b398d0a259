package io.strata.engine.sample;

/**
 * How one sequence picks its next tokens. Travels with the sequence to the stage that computes the logits.
 *
 * <p>The steps, in llama.cpp's default order: repetition / frequency / presence penalties over the last
 * {@code penaltyLastN} tokens, top-k, top-p, min-p, temperature, then a draw from what is left. Temperature 0 (or
 * below) is greedy: the highest logit after penalties, the lowest id on ties.
 *
 * @param temperature      0 = greedy; otherwise logits are divided by it before the draw
 * @param topK             keep the k most likely tokens; 0 = no limit
 * @param topP             keep the most likely tokens whose probability adds up to at least p; 1 = off
 * @param minP             drop tokens less likely than {@code minP} times the most likely one; 0 = off
 * @param repeatPenalty    logits of recent tokens: positive ones divided by it, negative ones multiplied; 1 = off
 * @param frequencyPenalty subtracted from a recent token's logit once per occurrence; 0 = off
 * @param presencePenalty  subtracted from a recent token's logit once; 0 = off
 * @param penaltyLastN     how many recent tokens (prompt included, if the caller feeds it) the penalties look at
 * @param seed             the draw's random seed; the same seed, parameters and logits give the same tokens (the
 *                         draw of generated token i depends on the seed and i only)
 * @param logprobs         report the chosen token's log probability
 * @param topLogprobs      and this many most likely alternatives (0-20, as OpenAI)
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, float repeatPenalty,
                             float frequencyPenalty, float presencePenalty, int penaltyLastN, long seed,
                             boolean logprobs, int topLogprobs) {

    /** The most alternatives a caller may ask for (OpenAI's limit). */
    public static final int MAX_TOP_LOGPROBS = 20;

    public SamplingParams {
        check(Float.isFinite(temperature) && temperature >= 0, "temperature", temperature, "a finite number >= 0");
        check(topK >= 0, "topK", topK, ">= 0 (0 = no limit)");
        check(topP > 0 && topP <= 1, "topP", topP, "in (0, 1]");
        check(minP >= 0 && minP <= 1, "minP", minP, "in [0, 1]");
        check(Float.isFinite(repeatPenalty) && repeatPenalty > 0, "repeatPenalty", repeatPenalty, "a finite number > 0");
        check(Float.isFinite(frequencyPenalty), "frequencyPenalty", frequencyPenalty, "finite");
        check(Float.isFinite(presencePenalty), "presencePenalty", presencePenalty, "finite");
        check(penaltyLastN >= 0 && penaltyLastN <= 1 << 20, "penaltyLastN", penaltyLastN, "in [0, 1048576]");
        check(topLogprobs >= 0 && topLogprobs <= MAX_TOP_LOGPROBS, "topLogprobs", topLogprobs, "in [0, " + MAX_TOP_LOGPROBS + "]");
        check(!(topLogprobs > 0 && !logprobs), "topLogprobs", topLogprobs, "0 unless logprobs is on");
    }

    private static void check(boolean ok, String field, Object value, String wanted) {
        if (!ok) throw new IllegalArgumentException("sampling parameter " + field + " = " + value + ": must be " + wanted);
    }

    /** Greedy decoding: always the most likely token (lowest id on ties), no penalties. */
    public static SamplingParams greedy() {
        return builder().temperature(0).build();
    }

    /** llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, penalties off (last 64 tokens). */
    public static Builder builder() {
        return new Builder();
    }

    public boolean isGreedy() {
        return temperature <= 0;
    }

    boolean hasPenalties() {
        return penaltyLastN > 0 && (repeatPenalty != 1f || frequencyPenalty != 0f || presencePenalty != 0f);
    }

    /** Builds parameters from llama.cpp's defaults. */
    public static final class Builder {
        private float temperature = 0.8f;
        private int topK = 40;
        private float topP = 0.95f;
        private float minP = 0.05f;
        private float repeatPenalty = 1f;
        private float frequencyPenalty = 0f;
        private float presencePenalty = 0f;
        private int penaltyLastN = 64;
        private long seed = 0;
        private boolean logprobs;
        private int topLogprobs;

        private Builder() {
        }

        public Builder temperature(float v) {
            temperature = v;
            return this;
        }

        public Builder topK(int v) {
            topK = v;
            return this;
        }

        public Builder topP(float v) {
            topP = v;
            return this;
        }

        public Builder minP(float v) {
            minP = v;
            return this;
        }

        public Builder repeatPenalty(float v) {
            repeatPenalty = v;
            return this;
        }

        public Builder frequencyPenalty(float v) {
            frequencyPenalty = v;
            return this;
        }

        public Builder presencePenalty(float v) {
            presencePenalty = v;
            return this;
        }

        public Builder penaltyLastN(int v) {
            penaltyLastN = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        /** Report the chosen token's log probability and {@code top} alternatives (0 = none). */
        public Builder logprobs(int top) {
            logprobs = true;
            topLogprobs = top;
            return this;
        }

        public SamplingParams build() {
            return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, frequencyPenalty, presencePenalty,
                    penaltyLastN, seed, logprobs, topLogprobs);
        }
    }
}
