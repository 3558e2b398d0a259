package io.strata.engine.sample;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Picks the next token from a row of logits, on the stage that computed them. One instance per sampling thread
 * (it owns working buffers the size of the vocabulary, allocated once); the per-sequence state is a
 * {@link SequenceSampler}.
 *
 * <p>Cost model, vocabulary V (128256 for Llama 3), nothing allocated per call except the small result: one copy of
 * the row (V floats); penalties touch only the recent tokens; top-k keeps a k-entry heap over the row (V log k);
 * top-p without top-k is two passes with buckets by logit, sorting only the tokens of the bucket where the mass is
 * reached; min-p is one pass; the draw needs exp over the survivors only
 * (over all V, vectorized, when nothing truncates). Log probabilities add one vectorized log-sum-exp pass and a
 * heap for the alternatives. No step sorts the whole vocabulary in the usual cases.
 */
public final class Sampler {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private final int vocab;
    private final float[] work;       // [V] logits after penalties
    private final float[] weights;    // [V] exp of the survivors for the draw
    private final int[] candIds;      // [V] surviving candidates, most likely first when sorted
    private final float[] candLogits; // [V]
    private final int[] heapIds;      // [V] top-k / top-p selection heap
    private final float[] heapVals;   // [V]
    private final long[] sortKeys;    // [V] packed (value, id) keys for top-p's boundary bucket
    private int[] recent = new int[64];

    public Sampler(int vocabSize) {
        if (vocabSize <= 0) throw new IllegalArgumentException("vocabulary size " + vocabSize);
        this.vocab = vocabSize;
        work = new float[vocabSize];
        weights = new float[vocabSize];
        candIds = new int[vocabSize];
        candLogits = new float[vocabSize];
        heapIds = new int[vocabSize];
        heapVals = new float[vocabSize];
        sortKeys = new long[vocabSize];
    }

    public int vocabSize() {
        return vocab;
    }

    /**
     * Samples the next token of a sequence from {@code logits[offset, offset + V)} and records it in the sequence's
     * penalty history. The draw's random number depends only on the sequence's seed and the token's index among its
     * generated tokens.
     */
    public Sample sample(float[] logits, int offset, SequenceSampler seq) {
        if (offset < 0 || offset + vocab > logits.length) {
            throw new IllegalArgumentException("logits row [" + offset + ", " + (offset + vocab) + ") outside an array of "
                    + logits.length);
        }
        SamplingParams p = seq.params();
        System.arraycopy(logits, offset, work, 0, vocab);
        if (p.hasPenalties()) applyPenalties(seq, p);
        int token = p.isGreedy() ? argmax(work, vocab) : draw(p, seq);
        seq.sampled(token);
        if (!p.logprobs()) return new Sample(token, Float.NaN, Sample.NO_IDS, Sample.NO_LOGPROBS);
        return withLogprobs(logits, offset, token, p.topLogprobs());
    }

    // ---------------------------------------------------------------- steps

    /** llama.cpp's penalties: each token seen c times in the window: repeat (by sign), then c*freq + presence. */
    private void applyPenalties(SequenceSampler seq, SamplingParams p) {
        if (recent.length < seq.recentCapacity()) recent = new int[seq.recentCapacity()];
        int m = seq.recent(recent);
        Arrays.sort(recent, 0, m);
        for (int i = 0; i < m; ) {
            int t = recent[i];
            int j = i;
            while (j < m && recent[j] == t) j++;
            int count = j - i;
            i = j;
            if (t < 0 || t >= vocab) continue;
            float v = work[t];
            v = v <= 0 ? v * p.repeatPenalty() : v / p.repeatPenalty();
            v -= count * p.frequencyPenalty() + p.presencePenalty();
            work[t] = v;
        }
    }

    /** The highest logit, the lowest id on ties (NaN never wins). */
    static int argmax(float[] x, int n) {
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        boolean found = false;
        for (int i = 0; i < n; i++) {
            float v = x[i];
            if (!found ? v == v : v > bestValue) {
                best = i;
                bestValue = v;
                found = true;
            }
        }
        return best;
    }

    // the candidates left by truncate(): ids == null means all V ids in order with their logits in work
    private int[] curIds;
    private float[] curVals;
    private boolean curSorted;

    /** Top-k, top-p, min-p over {@code work}; returns how many candidates survive (in curIds / curVals). */
    private int truncate(SamplingParams p) {
        int[] ids = null;
        float[] vals = work;
        int n = vocab;
        boolean sorted = false;
        if (p.topK() > 0 && p.topK() < vocab) {
            n = selectTop(work, vocab, p.topK(), candIds, candLogits);
            ids = candIds;
            vals = candLogits;
            sorted = true;
        }
        if (p.topP() < 1f) {
            if (sorted) {
                n = topPSorted(vals, n, p.topP());
            } else {
                n = topPUnsorted(p.topP());
                ids = candIds;
                vals = candLogits;
            }
        }
        if (p.minP() > 0f && n > 1) {
            float max = sorted ? vals[0] : max(vals, n);
            float threshold = max + (float) Math.log(p.minP());
            if (sorted) {
                int keep = 1;
                while (keep < n && vals[keep] >= threshold) keep++;
                n = keep;
            } else { // unsorted: all V ids (ids == null), or top-p's kept set, filtered in place
                int kept = 0;
                for (int i = 0; i < n; i++) {
                    if (vals[i] >= threshold) {
                        candIds[kept] = ids == null ? i : ids[i];
                        candLogits[kept] = vals[i];
                        kept++;
                    }
                }
                ids = candIds;
                vals = candLogits;
                n = kept;
            }
        }
        curIds = ids;
        curVals = vals;
        curSorted = sorted;
        return n;
    }

    private int draw(SamplingParams p, SequenceSampler seq) {
        int n = truncate(p);
        int[] ids = curIds;
        float[] vals = curVals;
        if (n == 0) return argmax(work, vocab); // only NaN logits: nothing to draw from
        if (n == 1) return ids == null ? 0 : ids[0];
        // temperature, then a draw proportional to exp(logit / T)
        float max = curSorted ? vals[0] : max(vals, n);
        double total = expInto(vals, weights, n, max, 1f / p.temperature());
        double u = seq.nextDouble() * total;
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < n; i++) {
            float w = weights[i];
            if (!(w > 0)) continue;
            cumulative += w;
            last = i;
            if (u < cumulative) return ids == null ? i : ids[i];
        }
        if (last < 0) return ids == null ? argmax(vals, n) : ids[argmax(vals, n)]; // all -inf / NaN
        return ids == null ? last : ids[last]; // rounding left u at the very end
    }

    /** For tests: the ids the truncation steps keep for this row (penalties applied first), ascending. */
    int[] survivors(float[] logits, int offset, SequenceSampler seq) {
        SamplingParams p = seq.params();
        System.arraycopy(logits, offset, work, 0, vocab);
        if (p.hasPenalties()) applyPenalties(seq, p);
        int n = truncate(p);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = curIds == null ? i : curIds[i];
        Arrays.sort(out);
        return out;
    }

    /** For tests: the logits after the penalties. */
    float[] penalized(float[] logits, int offset, SequenceSampler seq) {
        System.arraycopy(logits, offset, work, 0, vocab);
        if (seq.params().hasPenalties()) applyPenalties(seq, seq.params());
        return Arrays.copyOf(work, vocab);
    }

    /** Top-p over sorted candidates: the shortest head whose softmax mass reaches p (at least one). */
    private int topPSorted(float[] vals, int n, float topP) {
        double total = expInto(vals, weights, n, vals[0], 1f);
        double cumulative = 0;
        for (int i = 0; i < n; i++) {
            cumulative += weights[i];
            if (cumulative >= topP * total) return i + 1;
        }
        return n;
    }

    /**
     * Top-p over the whole vocabulary without sorting it. Tokens go into buckets by how far their logit is below the
     * maximum (4096 buckets over 32 logits, one more for the rest); walking the buckets from the top adds up their
     * probability mass until the bucket where it reaches p. Every token above that bucket is kept; only the tokens
     * inside it are sorted, to find where exactly the mass is reached. The kept tokens are left, in no particular
     * order, in candIds / candLogits; returns their number.
     */
    private int topPUnsorted(float topP) {
        float max = max(work, vocab);
        if (!(max > Float.NEGATIVE_INFINITY)) { // no finite logit (all -inf, or NaN): keep the argmax alone
            candIds[0] = argmax(work, vocab);
            candLogits[0] = work[candIds[0]];
            return 1;
        }
        double total = expInto(work, weights, vocab, max, 1f);
        double target = topP * total;
        Arrays.fill(bucketMass, 0);
        Arrays.fill(bucketCount, 0);
        for (int i = 0; i < vocab; i++) {
            int b = bucket(work[i], max);
            bucketMass[b] += weights[i];
            bucketCount[b]++;
        }
        int boundary = 0;
        double above = 0;
        while (boundary < BUCKETS && above + bucketMass[boundary] < target) above += bucketMass[boundary++];
        int n = 0;
        int edge = 0;
        for (int i = 0; i < vocab; i++) {
            int b = bucket(work[i], max);
            if (b < boundary) {
                candIds[n] = i;
                candLogits[n] = work[i];
                n++;
            } else if (b == boundary) {
                heapIds[edge] = i; // the boundary bucket, sorted below
                heapVals[edge] = work[i];
                edge++;
            }
        }
        sortDescending(heapIds, heapVals, edge);
        double cumulative = above;
        for (int j = 0; j < edge; j++) {
            candIds[n] = heapIds[j];
            candLogits[n] = heapVals[j];
            n++;
            cumulative += Math.exp(heapVals[j] - max);
            if (cumulative >= target) break;
        }
        return Math.max(n, 1);
    }

    private static final int BUCKETS = 4096;
    private static final float BUCKETS_PER_LOGIT = BUCKETS / 32f;
    private final double[] bucketMass = new double[BUCKETS + 1];
    private final int[] bucketCount = new int[BUCKETS + 1];

    private static int bucket(float x, float max) {
        float d = (max - x) * BUCKETS_PER_LOGIT; // >= 0; NaN and -inf go to the last bucket
        return d < BUCKETS ? (int) d : BUCKETS;
    }

    /** Sorts (ids, vals)[0, n) by value descending, id ascending on ties. */
    private void sortDescending(int[] ids, float[] vals, int n) {
        long[] keys = sortKeys;
        for (int i = 0; i < n; i++) {
            int bits = Float.floatToIntBits(vals[i] != vals[i] ? Float.NEGATIVE_INFINITY : vals[i] + 0.0f);
            int ascending = bits ^ ((bits >> 31) & 0x7FFFFFFF);
            keys[i] = ((long) ~ascending << 32) | (ids[i] & 0xFFFFFFFFL); // descending value, then ascending id
        }
        Arrays.sort(keys, 0, n);
        for (int i = 0; i < n; i++) {
            int id = (int) keys[i];
            ids[i] = id;
        }
        for (int i = 0; i < n; i++) {
            int asc = ~(int) (keys[i] >> 32);
            int bits = asc ^ ((asc >> 31) & 0x7FFFFFFF);
            vals[i] = Float.intBitsToFloat(bits);
        }
    }

    private Sample withLogprobs(float[] logits, int offset, int token, int top) {
        System.arraycopy(logits, offset, work, 0, vocab);
        float max = max(work, vocab);
        double lse = max + Math.log(expSum(work, vocab, max));
        float logprob = (float) (logits[offset + token] - lse);
        if (top == 0) return new Sample(token, logprob, Sample.NO_IDS, Sample.NO_LOGPROBS);
        int[] ids = new int[top];
        float[] lps = new float[top];
        int n = selectTop(work, vocab, top, ids, lps);
        for (int i = 0; i < n; i++) lps[i] = (float) (lps[i] - lse);
        return new Sample(token, logprob, ids, lps);
    }

    // ---------------------------------------------------------------- kernels

    /**
     * The {@code k} best of {@code vals[0, n)} (ids = indices), most likely first, lowest id first on ties, through a
     * k-entry min-heap: O(n log k). Returns min(k, n).
     */
    private int selectTop(float[] vals, int n, int k, int[] outIds, float[] outVals) {
        k = Math.min(k, n);
        int size = 0;
        for (int i = 0; i < n; i++) {
            int id = i;
            float v = vals[i];
            if (v != v) v = Float.NEGATIVE_INFINITY; // NaN ranks last
            if (size < k) {
                int c = size++;
                while (c > 0) { // sift up: parent must be worse than child
                    int parent = (c - 1) >>> 1;
                    if (!better(heapVals[parent], heapIds[parent], v, id)) break;
                    heapVals[c] = heapVals[parent];
                    heapIds[c] = heapIds[parent];
                    c = parent;
                }
                heapVals[c] = v;
                heapIds[c] = id;
            } else if (better(v, id, heapVals[0], heapIds[0])) {
                siftDown(size, v, id);
            }
        }
        for (int j = size - 1; j >= 0; j--) { // pop the worst into the back
            outIds[j] = heapIds[0];
            outVals[j] = heapVals[0];
            int last = j;
            if (last > 0) siftDown(last, heapVals[last], heapIds[last]);
        }
        return size;
    }

    /** Puts (v, id) at the root of a heap of {@code size} and sinks it. */
    private void siftDown(int size, float v, int id) {
        int c = 0;
        while (true) {
            int child = 2 * c + 1;
            if (child >= size) break;
            if (child + 1 < size && better(heapVals[child], heapIds[child], heapVals[child + 1], heapIds[child + 1])) child++;
            if (!better(v, id, heapVals[child], heapIds[child])) break;
            heapVals[c] = heapVals[child];
            heapIds[c] = heapIds[child];
            c = child;
        }
        heapVals[c] = v;
        heapIds[c] = id;
    }

    /** Whether (va, ia) ranks before (vb, ib): higher value, then lower id. */
    private static boolean better(float va, int ia, float vb, int ib) {
        return va > vb || (va == vb && ia < ib);
    }

    static float max(float[] x, int n) {
        int i = 0;
        float m = Float.NEGATIVE_INFINITY;
        if (n >= SPECIES.length()) {
            FloatVector acc = FloatVector.broadcast(SPECIES, Float.NEGATIVE_INFINITY);
            for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
                acc = acc.max(FloatVector.fromArray(SPECIES, x, i));
            }
            m = acc.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) m = Math.max(m, x[i]);
        return m;
    }

    /** Sum of exp(x[i] - shift) over [0, n), vectorized. */
    static double expSum(float[] x, int n, float shift) {
        if (shift == Float.NEGATIVE_INFINITY) return 0;
        int i = 0;
        double total = 0;
        FloatVector s = FloatVector.broadcast(SPECIES, shift);
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            total += FloatVector.fromArray(SPECIES, x, i).sub(s).lanewise(VectorOperators.EXP).reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) total += Math.exp(x[i] - shift);
        return total;
    }

    /** out[i] = exp((x[i] - shift) * scale) over [0, n); returns the sum. */
    static double expInto(float[] x, float[] out, int n, float shift, float scale) {
        int i = 0;
        double total = 0;
        FloatVector s = FloatVector.broadcast(SPECIES, shift);
        FloatVector f = FloatVector.broadcast(SPECIES, scale);
        for (int bound = SPECIES.loopBound(n); i < bound; i += SPECIES.length()) {
            FloatVector e = FloatVector.fromArray(SPECIES, x, i).sub(s).mul(f).lanewise(VectorOperators.EXP);
            e.intoArray(out, i);
            total += e.reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) {
            out[i] = (float) Math.exp((x[i] - shift) * scale);
            total += out[i];
        }
        return total;
    }
}
