package io.strata.worker;

import java.util.Arrays;

/**
 * The last stage's token choice for one sequence. Temperature 0 is greedy argmax (lowest id on ties). Otherwise the
 * logits are scaled by {@code 1/temperature}, cut by top-k, then top-p (smallest set whose probability reaches p),
 * then min-p (drop tokens below {@code min_p} times the best probability), and one token is drawn with the
 * sequence's own random stream (seeded by the request, so a seeded request is reproducible).
 */
final class Sampler {
    private Sampler() {
    }

    static int pick(float[] logits, int off, int vocab, Frames.Sampling p, SequenceTable.Entry seq) {
        if (p == null || p.greedy()) return TokenPicker.argmax(logits, off, vocab);
        if (seq.sampler == null) seq.sampler = new SequenceTable.SamplerState(p.seed());
        int k = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        int[] ids = k < vocab ? TokenPicker.top(logits, off, vocab, k) : sortedIds(logits, off, vocab);
        double inv = 1.0 / p.temperature();
        double max = logits[off + ids[0]];
        double[] probs = new double[ids.length];
        double sum = 0;
        for (int i = 0; i < ids.length; i++) {
            probs[i] = Math.exp((logits[off + ids[i]] - max) * inv);
            sum += probs[i];
        }
        int keep = ids.length;
        if (p.topP() > 0f && p.topP() < 1f) {
            double acc = 0;
            for (int i = 0; i < ids.length; i++) {
                acc += probs[i] / sum;
                if (acc >= p.topP()) {
                    keep = i + 1;
                    break;
                }
            }
        }
        if (p.minP() > 0f) {
            double floor = p.minP() * probs[0];
            int m = 1;
            while (m < keep && probs[m] >= floor) m++;
            keep = m;
        }
        double total = 0;
        for (int i = 0; i < keep; i++) total += probs[i];
        double r = seq.sampler.random.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            r -= probs[i];
            if (r < 0) return ids[i];
        }
        return ids[keep - 1];
    }

    /** Every id of the row, most likely first (lowest id first on ties). */
    private static int[] sortedIds(float[] logits, int off, int vocab) {
        Integer[] boxed = new Integer[vocab];
        for (int i = 0; i < vocab; i++) boxed[i] = i;
        Arrays.sort(boxed, (a, b) -> {
            int c = Float.compare(logits[off + b], logits[off + a]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        int[] ids = new int[vocab];
        for (int i = 0; i < vocab; i++) ids[i] = boxed[i];
        return ids;
    }
}
