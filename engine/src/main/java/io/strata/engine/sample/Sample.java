package io.strata.engine.sample;

/**
 * A sampled token, with its log probability and the most likely alternatives when asked for (OpenAI's
 * {@code logprobs} / {@code top_logprobs}). Log probabilities are of the model's own distribution, the softmax of the
 * raw logits, before penalties, truncation and temperature.
 *
 * @param token       the chosen id
 * @param logprob     its log probability, or NaN when not asked for
 * @param topIds      the most likely ids, most likely first (lowest id on ties); empty when not asked for
 * @param topLogprobs their log probabilities
 */
public record Sample(int token, float logprob, int[] topIds, float[] topLogprobs) {
    static final int[] NO_IDS = new int[0];
    static final float[] NO_LOGPROBS = new float[0];
}
