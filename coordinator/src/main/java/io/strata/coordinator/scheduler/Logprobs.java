package io.strata.coordinator.scheduler;

import io.strata.coordinator.scheduler.PipelineExecutor.SeqOutput;
import io.strata.coordinator.scheduler.PipelineExecutor.TokenLogprob;

import java.util.ArrayList;
import java.util.List;

/** Log-probabilities from one row of logits: {@code log softmax(logits)}, computed in double. */
final class Logprobs {
    private Logprobs() {
    }

    /** The chosen token's log-probability and the {@code top} most likely tokens (most likely first, lowest id on ties). */
    static SeqOutput of(long seq, float[] logits, int off, int vocab, int token, int top) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = off; i < off + vocab; i++) if (logits[i] > max) max = logits[i];
        double sum = 0;
        for (int i = off; i < off + vocab; i++) sum += Math.exp((double) logits[i] - max);
        double logZ = max + Math.log(sum);
        int k = Math.min(top, vocab);
        int[] ids = new int[k];
        int have = 0;
        // insertion into a small sorted array: k is at most 20, one pass over the row
        for (int i = 0; i < vocab && k > 0; i++) {
            float v = logits[off + i];
            if (have == k && v <= logits[off + ids[k - 1]]) continue;
            int j = have < k ? have++ : k - 1;
            while (j > 0 && logits[off + ids[j - 1]] < v) {
                ids[j] = ids[j - 1];
                j--;
            }
            ids[j] = i;
        }
        List<TokenLogprob> list = new ArrayList<>(k);
        for (int j = 0; j < k; j++) list.add(new TokenLogprob(ids[j], (float) (logits[off + ids[j]] - logZ)));
        return new SeqOutput(seq, token, (float) (logits[off + token] - logZ), List.copyOf(list));
    }
}
