package io.strata.worker;

/**
 * Picks the next token from one row of logits on the last stage, and computes log-probabilities when asked.
 * Greedy (temperature 0) is argmax with the lowest id winning ties, as llama.cpp's greedy sampler.
 */
final class TokenPicker {
    private TokenPicker() {
    }

    /** Index of the largest of {@code logits[off .. off+vocab)}, lowest index on ties. */
    static int argmax(float[] logits, int off, int vocab) {
        int best = 0;
        float bestValue = logits[off];
        for (int i = 1; i < vocab; i++) {
            float v = logits[off + i];
            if (v > bestValue) {
                bestValue = v;
                best = i;
            }
        }
        return best;
    }

    /** {@code log(sum(exp(logits)))} of a row, computed stably in double. */
    static double logSumExp(float[] logits, int off, int vocab) {
        float max = logits[off];
        for (int i = 1; i < vocab; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits[off + i] - (double) max);
        return max + Math.log(sum);
    }

    /** The {@code k} most likely token ids of a row, most likely first (lowest id first on ties). */
    static int[] top(float[] logits, int off, int vocab, int k) {
        k = Math.min(k, vocab);
        int[] ids = new int[k];
        int count = 0;
        for (int i = 0; i < vocab; i++) {
            float v = logits[off + i];
            if (count == k && !(v > logits[off + ids[k - 1]])) continue;
            int j = count < k ? count++ : k - 1;
            while (j > 0 && v > logits[off + ids[j - 1]]) {
                ids[j] = ids[j - 1];
                j--;
            }
            ids[j] = i;
        }
        return ids;
    }
}
