package io.strata.coordinator.scheduler;

/**
 * How the last stage picks a sequence's next token (travels with the sequence; OpenAI's request fields).
 *
 * @param temperature      0 = greedy argmax (lowest id on ties); otherwise logits are divided by it before sampling
 * @param topP             nucleus sampling: keep the smallest set of tokens whose probability adds up to this (1 = off)
 * @param topK             keep the k most likely tokens (0 = off)
 * @param seed             seed of the draws (generated token i's draw depends on seed and i only: the same seed and
 *                         request give the same tokens, across a recovery too)
 * @param frequencyPenalty subtracted from a token's logit once per time it was already generated
 * @param presencePenalty  subtracted from a token's logit if it was generated at all
 * @param logprobs         return the sampled token's log-probability
 * @param topLogprobs      also return this many most likely tokens with their log-probabilities (0..20)
 */
public record Sampling(float temperature, float topP, int topK, long seed, float frequencyPenalty, float presencePenalty,
                       boolean logprobs, int topLogprobs) {

    public static final Sampling GREEDY = new Sampling(0f, 1f, 0, 0, 0f, 0f, false, 0);

    public Sampling {
        if (!(temperature >= 0f) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0: " + temperature);
        if (!(topP > 0f && topP <= 1f)) throw new IllegalArgumentException("top_p must be in (0, 1]: " + topP);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0: " + topK);
        if (topLogprobs < 0) throw new IllegalArgumentException("top_logprobs must be >= 0: " + topLogprobs);
    }

    public boolean greedy() {
        return temperature == 0f;
    }

    public boolean penalized() {
        return frequencyPenalty != 0f || presencePenalty != 0f;
    }
}
