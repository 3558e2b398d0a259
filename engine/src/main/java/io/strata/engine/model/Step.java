package io.strata.engine.model;

import io.strata.engine.backend.KvCache;

/**
 * One forward step of a stage over {@code n} rows. Rows may belong to different sequences (batched decode) or be
 * consecutive tokens of one sequence (a prefill chunk), or both.
 *
 * @param n         number of rows
 * @param tokens    token ids {@code [n]} (first stage), else null
 * @param hidden    hidden states {@code [n][dim]} from the previous stage (other stages), else null
 * @param positions absolute position of each row in its sequence {@code [n]}
 * @param caches    each row's sequence cache {@code [n]} (rows of one sequence share one)
 * @param logitRows rows, ascending, whose logits the last stage returns (e.g. the last row of each sequence); ignored by
 *                  other stages
 */
public record Step(int n, int[] tokens, float[] hidden, int[] positions, KvCache[] caches, int[] logitRows) {

    /** A prefill or decode step of one sequence: rows are {@code tokens} at positions {@code start, start+1, ...}. */
    public static Step ofSequence(int[] tokens, int start, KvCache cache, boolean allLogits) {
        int n = tokens.length;
        int[] pos = new int[n];
        KvCache[] caches = new KvCache[n];
        for (int i = 0; i < n; i++) {
            pos[i] = start + i;
            caches[i] = cache;
        }
        int[] rows;
        if (allLogits) {
            rows = new int[n];
            for (int i = 0; i < n; i++) rows[i] = i;
        } else {
            rows = new int[]{n - 1};
        }
        return new Step(n, tokens, null, pos, caches, rows);
    }
}
