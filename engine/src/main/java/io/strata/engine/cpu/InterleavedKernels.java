package io.strata.engine.cpu;

import io.strata.engine.tensor.GgmlType;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;

/**
 * Matrix products over {@link Repacked} (row-interleaved) weights: R rows at a time, as outer products.
 *
 * <p>Each group of R rows is processed in column chunks of {@link #CHUNK_32} or {@link #CHUNK_256} in two passes per
 * input:
 * <ol>
 *   <li>an integer pass: one vector load brings 4 (nibbles) or 1 (bytes) columns of all R rows; each column is
 *       multiplied by its activation (an int8 value broadcast to R shorts) and added, in 16-bit lanes. Sums are
 *       stored per block of 32 columns (Q4_0, Q4_K), per 8 columns (Q6_K) or per block as floats (Q8_0) into a small
 *       scratch array in L1;</li>
 *   <li>a scale pass: per block, the partial sums are added, widened to ints, multiplied by the per-row scales and
 *       the activation scale, and accumulated in floats.</li>
 * </ol>
 * Shifts take their count from a vector ({@code vpsrlvw}): with a scalar count C2 moves the count into a vector
 * register before every shift. Splitting the passes keeps each compiled loop small (the Vector API's intermediate graph is large, and a method
 * that grows past C2's inlining budget silently falls back to boxed vectors).
 *
 * <p>Nibbles without masks ("telescoping"): a 16-bit lane holding four nibbles c0..c3 of one row gives, by logical
 * shifts only, {@code s_k = lane >>> 4k = c_k + 16 s_(k+1)}; so {@code sum c_k x_k = sum s_k y_k} with
 * {@code y_k = x_k - 16 x_(k-1)} (made once per activation, see {@link ActivationCache}), modulo 2^16. Every quantity
 * whose true value fits a short (a block's sum of {@code (q-8) x}: at most 32*8*127 = 32512) is therefore exact
 * even though the intermediate 16-bit sums wrap. The identity holds for any field widths: with fields f_j at bit
 * offsets o_j, {@code sum f_j w_j = sum (lane >>> o_j) (w_j - 2^(o_j - o_(j-1)) w_(j-1))}. Q6_K packs its eight 6-bit
 * values per 8 columns into three lanes of 6+6+4 and 6+6+2+2 bits (see {@link Repacked}) and closes its sums every 8
 * columns (8*32*127 fits). Q8_0 runs on floats instead (exact: see {@link #floatSumsQ8_0}).
 *
 * <p>Cost model (AVX-512, R = 32, per 4 columns x 32 rows = 128 weights): Q4_0/Q4_K one load, 3 shifts, 4
 * broadcasts, 4 short multiplies, 4 adds; Q6_K (per 8 columns x 32 rows) 3 loads, 7 shifts, 11 broadcasts, 10
 * multiplies and 10 adds; Q8_0 (per 4 columns, see {@link #floatSumsQ8_0}) 8 widening loads, 8 conversions and 8 FMAs.
 * The scale pass costs about 15 vector ops per block of 32 columns x 32 rows.
 *
 * <p>Decode (one input on a pair of groups): Q4_0, Q4_K and Q6_K fuse the two passes per block
 * ({@link #q4_0Fused2}, {@link #q4KFused2}, {@link #q6KFused2}), so that the weight loads never pause for a scale pass
 * (measured from DRAM: Q4_K +8-10%, Q6_K +3-8%); the operations and their order are those of the two passes. The
 * Q4_K one takes a whole super-block and ends with its float step, converting its f16 scales there, so that decode
 * makes one call per super-block and pair instead of eight; a profile of Q4_K_M decode had 10% of its samples in those
 * small calls. (Q4_0 and Q6_K keep their separate conversion passes: folded into their fused kernels they made the
 * first token slower, engine/README.md.)
 *
 * <p>Several inputs (prefill, decode batches): the integer pass serves up to four inputs (Q4_0 and Q4_K on a pair of
 * groups; otherwise two) from one load and one set of shifts of each weight vector, so per input only the broadcasts,
 * multiplies and adds remain; the per-row f16 scales are converted once per chunk for all inputs, and the K-quants'
 * int8 sub-block scales once per two inputs. Every input gets the same integer sums and the same float operations in
 * the same order as alone: results are bit-identical whatever the batch.
 */
final class InterleavedKernels {

    static final int R = Repacked.R;
    /** Shorts of {@link ActivationCache#q6y} per 8 columns. */
    static final int Q6Y = ActivationCache.Q6Y;
    /** Shorts of {@link ActivationCache#q3y} per 16 columns. */
    static final int Q3Y = ActivationCache.Q3Y;
    /** Shorts of {@link ActivationCache#q2y} per 16 columns. */
    static final int Q2Y = ActivationCache.Q2Y;
    /** Shorts of {@link ActivationCache#q5y} per 16 columns. */
    static final int Q5Y = ActivationCache.Q5Y;
    static final int H = R / 2;
    /**
     * Columns per pass with one input (decode), for Q4_0/Q8_0 and for the K-quants. Short passes matter when the
     * weights stream from memory: the integer pass issues a burst of loads and the scale pass none, and with long passes
     * (1024 columns) the memory stream stalls during every scale pass (measured from DRAM: Q4_0 15 -> 21
     * tok/s-equivalent going from 1024 to 128 columns; 64 was slower again).
     */
    static final int CHUNK_32 = 128;
    static final int CHUNK_256 = 256;
    /**
     * Columns per pass with several inputs (prefill, batches): the chunk of weights is read from memory once and then
     * from cache for every input, so longer passes (fewer calls per input) win there (pp128 10% faster than 128).
     * Results do not depend on the chunk length: integer sums are exact and the float accumulation runs block by block
     * in column order either way.
     */
    static final int CHUNK = 1024;
    /**
     * Up to this many inputs Q4_0 keeps the short decode passes, and the K-quants up to {@link #SHORT_N_K} (they loop
     * over the inputs inside each super-block, so their pass length only sets how often the scales are converted).
     * Measured with KernelBench (Q4_0 mix, steps/s): n = 2 from DRAM 11.7 with 1024-column passes, 13.6 with 128; n = 4
     * from DRAM a tie (7.9 / 8.0), from L2 9.2 against 8.6.
     */
    static final int SHORT_N = 2;
    static final int SHORT_N_K = 4;
    /**
     * Columns per pass for Q8_0 with several inputs: the chunk's int8 weights are converted to floats once (a tile of
     * Q8_TILE x R floats, kept in L1/L2) and every input then runs loads and FMAs only, instead of widening and
     * converting the same weights again per input.
     */
    static final int Q8_TILE = 256;
    /** Floats of one input's block sums over a Q8_0 tile. */
    static final int Q8_SLICE = Q8_TILE / 32 * R;
    /**
     * Shorts of one slice of 16-bit sums (one group, one input, one pass): Q4_0 one per block of a chunk, Q4_K one per
     * block of half a super-block, Q6_K one per 8 columns of half a super-block. Slice {@code 2k + j} holds input k
     * (of the up to four an integer pass serves) and group j (of the pair).
     */
    static final int SL = CHUNK / 32 * R;

    static final VectorSpecies<Short> SV = VectorSpecies.of(short.class, VectorKernels.FS.vectorShape());
    static final VectorSpecies<Integer> IV = VectorKernels.IS;
    static final VectorSpecies<Float> FV = VectorKernels.FS;
    /** R/2 bytes (per-row scales of half a group), widened to R/2 ints. */
    static final VectorSpecies<Byte> BH = VectorKernels.BS;

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Shift count as a vector (see the class comment on shifts). */
    private static final IntVector SIXTEEN = IntVector.broadcast(IV, 16);
    /** f16 to f32 by bits (see {@link #halvesToFloats}): the bits kept after the arithmetic shift by 3, and the rebias. */
    private static final int F16_BITS = 0x8FFFE000;
    private static final float F16_REBIAS = 0x1p112f;

    private InterleavedKernels() {
    }

    /** Per-thread scratch: 16-bit and 32-bit partial sums of one chunk, float accumulators of two groups. */
    static final class Scratch {
        /** Eight slices of {@link #SL} 16-bit sums: slice 2k + j for input k, group j. */
        final short[] s16 = new short[8 * SL];
        /** 32-bit sums of the K-quants: per super-block, R ints per (input, group) for Q6_K, 2R (sums, mins) for Q4_K. */
        final int[] s32 = new int[CHUNK / 32 * R];
        final float[] f32 = new float[CHUNK / 32 * R];
        /** Q8_0 weights of one tile as floats, column-major in groups of R rows (see {@link #Q8_TILE}). */
        final float[] wf = new float[Q8_TILE * R];
        /** Block sums of four inputs over one Q8_0 tile, {@link #Q8_SLICE} floats each. */
        final float[] f32x4 = new float[4 * Q8_SLICE];
        /**
         * Per-row f32 scales of one chunk, made once for all inputs (Q4_0 per block, Q6_K per super-block: {@code d};
         * Q4_K per super-block: {@code d}, its {@code dmin} in fs2); fsb and fs2b: the pair's second group.
         */
        final float[] fs = new float[CHUNK / 32 * R];
        final float[] fs2 = new float[CHUNK / 256 * R];
        final float[] fsb = new float[CHUNK / 32 * R];
        final float[] fs2b = new float[CHUNK / 256 * R];
        /** Per-row f32 mins per block of one chunk (Q4_1, Q5_1); fmb: the pair's second group. */
        final float[] fm = new float[CHUNK / 32 * R];
        final float[] fmb = new float[CHUNK / 32 * R];
        float[] acc = new float[2 * R];
        /** A heap copy of one weight row, and its unpacked values, for the row-major kernels. */
        byte[] row = new byte[0];
        short[] unpacked = new short[0];
    }

    /**
     * {@code out[i*rows + r]} for the rows of groups {@code [g0, g1)} and inputs {@code i < n}. Groups go in pairs
     * where the kernel shares the activation broadcasts between two groups (Q4_0, Q4_K, Q6_K), and inputs go in pairs
     * where the integer pass shares the weight loads and shifts between two inputs.
     */
    static void run(Repacked p, int g0, int g1, ActivationCache a, int n, float[] out, Scratch sc) {
        int rows = p.rows;
        GgmlType type = p.type;
        if (sc.acc.length < 2 * n * R) sc.acc = new float[2 * n * R];
        float[] acc = sc.acc;
        int step = type == GgmlType.Q8_0 ? 1 : 2;
        for (int g = g0; g < g1; g += step) {
            boolean pair = step == 2 && g + 1 < g1;
            Arrays.fill(acc, 0, 2 * n * R, 0f);
            switch (type) {
                case Q4_0 -> q4_0Group(p, g, pair, a, n, sc);
                case Q8_0 -> q8_0Group(p, g, a, n, sc);
                case Q4_K -> q4KGroup(p, g, pair, a, n, sc);
                case Q6_K -> q6KGroup(p, g, pair, a, n, sc);
                case Q3_K -> q3KGroup(p, g, pair, a, n, sc);
                case Q2_K, Q5_K -> minGroup(p, g, pair, a, n, sc);
                case Q4_1, Q5_0, Q5_1 -> legacyGroup(p, g, pair, a, n, sc);
                default -> throw new IllegalArgumentException(type + " has no interleaved kernel");
            }
            for (int k = 0; k < (pair ? 2 : 1); k++) {
                int r0 = (g + k) * R;
                int valid = Math.min(R, rows - r0);
                for (int i = 0; i < n; i++) System.arraycopy(acc, (k * n + i) * R, out, i * rows + r0, valid);
            }
        }
    }

    /** Q4_0, group g (and g + 1 if {@code pair}), all inputs, into {@code sc.acc}. */
    private static void q4_0Group(Repacked p, int g, boolean pair, ActivationCache a, int n, Scratch sc) {
        int cols = p.cols;
        long gb = p.groupBytes, base = g * gb;
        MemorySegment w = p.data;
        float[] acc = sc.acc;
        short[] s = sc.s16;
        int chunk = n <= SHORT_N ? CHUNK_32 : CHUNK;
        for (int c0 = 0; c0 < cols; c0 += chunk) {
            int nb = Math.min(chunk, cols - c0) / 32;
            long hdr = base + 2L * R * (c0 / 32);
            long v = base + 2L * R * (cols / 32) + 16L * R * (c0 / 32);
            halvesToFloats(w, hdr, 2L * R, nb, sc.fs, 0);
            if (pair) halvesToFloats(w, hdr + gb, 2L * R, nb, sc.fsb, 0);
            for (int i = 0; i < n; ) {
                int m = pair && i + 3 < n ? 4 : i + 1 < n ? 2 : 1;
                int xo = i * cols + c0;
                if (m == 1 && pair) {
                    // Decode: the integer and scale passes fused per block.
                    q4_0Fused2(w, v, v + gb, nb, a.q8y, xo, a.q8sum, sc.fs, sc.fsb, a.q8d, acc, i * R, (n + i) * R);
                } else {
                    blockSums(m, pair, w, v, gb, nb, a.q8y, xo, cols, s);
                    for (int k = 0; k < m; k++) {
                        int xb = (xo + k * cols) / 32;
                        q4_0Floats(nb, s, 2 * k * SL, a.q8sum, sc.fs, a.q8d, xb, acc, (i + k) * R);
                        if (pair) q4_0Floats(nb, s, (2 * k + 1) * SL, a.q8sum, sc.fsb, a.q8d, xb, acc, (n + i + k) * R);
                    }
                }
                i += m;
            }
        }
    }

    /** Q4_K, group g (and g + 1 if {@code pair}), all inputs, into {@code sc.acc}. */
    private static void q4KGroup(Repacked p, int g, boolean pair, ActivationCache a, int n, Scratch sc) {
        int cols = p.cols;
        long gb = p.groupBytes, base = g * gb;
        MemorySegment w = p.data;
        float[] acc = sc.acc;
        short[] s = sc.s16;
        int[] s32 = sc.s32;
        int chunk = n <= SHORT_N_K ? CHUNK_256 : CHUNK;
        for (int c0 = 0; c0 < cols; c0 += chunk) {
            int ns = Math.min(chunk, cols - c0) / 256;
            long hdr0 = base + 20L * R * (c0 / 256);
            if (n > 1 || !pair) { // (one input on a pair converts its scales in q4KFused2)
                halvesToFloats(w, hdr0, 20L * R, ns, sc.fs, 0);
                halvesToFloats(w, hdr0 + 2L * R, 20L * R, ns, sc.fs2, 0);
                if (pair) {
                    halvesToFloats(w, hdr0 + gb, 20L * R, ns, sc.fsb, 0);
                    halvesToFloats(w, hdr0 + gb + 2L * R, 20L * R, ns, sc.fs2b, 0);
                }
            }
            for (int sb = 0; sb < ns; sb++) {
                long hdr = hdr0 + 20L * R * sb;
                long v = base + 20L * R * (cols / 256) + 128L * R * (c0 / 256 + sb);
                for (int i = 0; i < n; ) {
                    int m = pair && i + 3 < n ? 4 : i + 1 < n ? 2 : 1;
                    int xo = i * cols + c0 + 256 * sb;
                    if (m == 1 && pair) {
                        // Decode: the integer and scale passes fused per block of 32 columns, the float step at the end
                        // of the super-block.
                        q4KFused2(w, v, v + gb, hdr, hdr + gb, a.qky, xo, a.qkSum, xo / 256, a.qkd, acc, i * R, (n + i) * R);
                    } else {
                        // Per super-block, in two halves of 128 columns: the integer pass of a half, then its share of the
                        // scale pass, so that weight loads come in short bursts. The int sums of the halves are added
                        // before any float is made: the same numbers as in one pass.
                        for (int half = 0; half < 2; half++) {
                            long vh = v + 64L * R * half;
                            int xh = xo + 128 * half;
                            int xb = xo / 256, xs = cols / 256;
                            if (m >= 2) {
                                blockSums(m, pair, w, vh, gb, 4, a.qky, xh, cols, s);
                                for (int k = 0; k < m; k += 2) {
                                    int xk = xb + k * xs;
                                    q4KHalf12(w, hdr, half, s, 2 * k * SL, (2 * k + 2) * SL, a.qkSum, xk, xk + xs, s32, 4 * k * R, (4 * k + 4) * R);
                                    if (pair) q4KHalf12(w, hdr + gb, half, s, (2 * k + 1) * SL, (2 * k + 3) * SL, a.qkSum, xk, xk + xs, s32, (4 * k + 2) * R, (4 * k + 6) * R);
                                }
                            } else {
                                blockSums(m, false, w, vh, gb, 4, a.qky, xh, cols, s);
                                q4KHalf(w, hdr, half, s, 0, a.qkSum, xb, s32, 0);
                            }
                        }
                        for (int k = 0; k < m; k++) {
                            int xb = (xo + k * cols) / 256;
                            q4KFloats(s32, 4 * k * R, sc.fs, sc.fs2, R * sb, a.qkd, xb, acc, (i + k) * R);
                            if (pair) q4KFloats(s32, (4 * k + 2) * R, sc.fsb, sc.fs2b, R * sb, a.qkd, xb, acc, (n + i + k) * R);
                        }
                    }
                    i += m;
                }
            }
        }
    }

    /**
     * The integer pass of Q4_0 and Q4_K over {@code blocks} blocks of 32 columns for {@code m} (1, 2, or 4 with a pair) inputs from
     * {@code yo} (inputs {@code stride} apart) on group {@code at} and, if {@code pair}, the next group
     * ({@code gb} bytes on): the kernel that shares each weight load and shift between those inputs and groups.
     */
    private static void blockSums(int m, boolean pair, MemorySegment w, long at, long gb, int blocks, short[] y, int yo,
                                  int stride, short[] s) {
        if (m == 4) {
            blockSums24(w, at, at + gb, blocks, y, yo, stride, s);
        } else if (m == 2) {
            if (pair) blockSums22(w, at, at + gb, blocks, y, yo, stride, s);
            else blockSums12(w, at, blocks, y, yo, stride, s);
        } else {
            blockSums(w, at, blocks, y, yo, s, 0); // one input on a pair runs fused (q4_0Fused2, q4KFused2)
        }
    }

    /** Q6_K, group g (and g + 1 if {@code pair}), all inputs, into {@code sc.acc}. */
    private static void q6KGroup(Repacked p, int g, boolean pair, ActivationCache a, int n, Scratch sc) {
        int cols = p.cols, ns = cols / 256;
        long gb = p.groupBytes, base = g * gb;
        MemorySegment w = p.data;
        float[] acc = sc.acc;
        short[] s = sc.s16;
        int[] s32 = sc.s32;
        int chunk = n <= SHORT_N_K ? CHUNK_256 : CHUNK;
        for (int c0 = 0; c0 < cols; c0 += chunk) {
            int nc = Math.min(chunk, cols - c0) / 256;
            long hdr0 = base + 18L * R * (c0 / 256);
            halvesToFloats(w, hdr0, 18L * R, nc, sc.fs, 0);
            if (pair) halvesToFloats(w, hdr0 + gb, 18L * R, nc, sc.fsb, 0);
            for (int sb = 0; sb < nc; sb++) {
                long hdr = hdr0 + 18L * R * sb;
                long vals = base + 18L * R * ns + 192L * R * (c0 / 256 + sb);
                for (int i = 0; i < n; ) {
                    int m = i + 1 < n ? 2 : 1;
                    int xo = i * cols + c0 + 256 * sb;
                    // As Q4_K: per super-block, in two halves.
                    for (int half = 0; half < 2; half++) {
                        long vh = vals + 96L * R * half;
                        int yh = (xo + 128 * half) / 8 * Q6Y, ys = cols / 8 * Q6Y;
                        if (m == 2) {
                            if (pair) q6Sums22(w, vh, vh + gb, 16, a.q6y, yh, ys, s);
                            else q6Sums12(w, vh, 16, a.q6y, yh, ys, s);
                        } else if (pair) {
                            // Decode: the integer and scale passes fused per 16 columns.
                            q6KFused2(w, vh, vh + gb, hdr, hdr + gb, half, a.q6y, yh, s32);
                        } else {
                            q6Sums(w, vh, 16, a.q6y, yh, s, 0);
                        }
                        if (m == 2) {
                            q6KHalf12(w, hdr, half, s, 0, 2 * SL, s32, 0, 2 * R);
                            if (pair) q6KHalf12(w, hdr + gb, half, s, SL, 3 * SL, s32, R, 3 * R);
                        } else if (!pair) {
                            q6KHalf(w, hdr, half, s, 0, s32, 0);
                        }
                    }
                    for (int k = 0; k < m; k++) {
                        int xb = (xo + k * cols) / 256;
                        blockFloats(1, s32, 2 * k * R, sc.fs, R * sb, a.qkd, xb, acc, (i + k) * R);
                        if (pair) blockFloats(1, s32, (2 * k + 1) * R, sc.fsb, R * sb, a.qkd, xb, acc, (n + i + k) * R);
                    }
                    i += m;
                }
            }
        }
    }

    /**
     * Q3_K, group g (and g + 1 if {@code pair}), all inputs, into {@code sc.acc}: per super-block and input, the integer
     * pass and the integer scale pass ({@link #q3KFused2} on a pair, else {@link #q3Sums} and {@link #q3KScales}), then
     * the float step. Inputs go one at a time over the super-block's weights, which stay in L1 between them.
     */
    private static void q3KGroup(Repacked p, int g, boolean pair, ActivationCache a, int n, Scratch sc) {
        int cols = p.cols, ns = cols / 256;
        long gb = p.groupBytes, base = g * gb;
        MemorySegment w = p.data;
        float[] acc = sc.acc;
        short[] s = sc.s16;
        int[] s32 = sc.s32;
        for (int c0 = 0; c0 < cols; c0 += CHUNK) {
            int nc = Math.min(CHUNK, cols - c0) / 256;
            long hdr0 = base + 18L * R * (c0 / 256);
            halvesToFloats(w, hdr0, 18L * R, nc, sc.fs, 0);
            if (pair) halvesToFloats(w, hdr0 + gb, 18L * R, nc, sc.fsb, 0);
            for (int sb = 0; sb < nc; sb++) {
                long hdr = hdr0 + 18L * R * sb;
                long vals = base + 18L * R * ns + 96L * R * (c0 / 256 + sb);
                for (int i = 0; i < n; i++) {
                    int xo = i * cols + c0 + 256 * sb;
                    int yo = xo / 16 * Q3Y;
                    if (pair) {
                        q3KFused2(w, vals, vals + gb, hdr, hdr + gb, a.q3y, yo, s32);
                    } else {
                        q3Sums(w, vals, 16, a.q3y, yo, s, 0);
                        q3KScales(w, hdr, s, 0, s32, 0);
                    }
                    int xb = xo / 256;
                    blockFloats(1, s32, 0, sc.fs, R * sb, a.qkd, xb, acc, i * R);
                    if (pair) blockFloats(1, s32, R, sc.fsb, R * sb, a.qkd, xb, acc, (n + i) * R);
                }
            }
        }
    }

    /**
     * Q2_K and Q5_K (the K-quants with a min per sub-block besides Q4_K), group g (and g + 1 if {@code pair}), all
     * inputs, into {@code sc.acc}: per super-block and input, the integer pass and the integer scale pass (sums and
     * mins: {@link #q2KFused2} / {@link #q5KFused2} on a pair, else the one-group passes), then the float step of Q4_K
     * ({@link #q4KFloats}). Inputs go one at a time over the super-block's weights, which stay in L1 between them.
     */
    private static void minGroup(Repacked p, int g, boolean pair, ActivationCache a, int n, Scratch sc) {
        boolean q2 = p.type == GgmlType.Q2_K;
        int cols = p.cols, ns = cols / 256;
        long gb = p.groupBytes, base = g * gb;
        long valueBytes = (q2 ? 64L : 160L) * R;
        MemorySegment w = p.data;
        float[] acc = sc.acc;
        short[] s = sc.s16;
        int[] s32 = sc.s32;
        for (int c0 = 0; c0 < cols; c0 += CHUNK) {
            int nc = Math.min(CHUNK, cols - c0) / 256;
            long hdr0 = base + 20L * R * (c0 / 256);
            halvesToFloats(w, hdr0, 20L * R, nc, sc.fs, 0);
            halvesToFloats(w, hdr0 + 2L * R, 20L * R, nc, sc.fs2, 0);
            if (pair) {
                halvesToFloats(w, hdr0 + gb, 20L * R, nc, sc.fsb, 0);
                halvesToFloats(w, hdr0 + gb + 2L * R, 20L * R, nc, sc.fs2b, 0);
            }
            for (int sb = 0; sb < nc; sb++) {
                long hdr = hdr0 + 20L * R * sb;
                long vals = base + 20L * R * ns + valueBytes * (c0 / 256 + sb);
                for (int i = 0; i < n; i++) {
                    int xo = i * cols + c0 + 256 * sb;
                    int xb = xo / 256;
                    if (q2) {
                        if (pair) {
                            q2KFused2(w, vals, vals + gb, hdr, hdr + gb, a.q2y, xo / 16 * Q2Y, a.qkSum, xb, s32);
                        } else {
                            q2Sums(w, vals, 16, a.q2y, xo / 16 * Q2Y, s, 0);
                            q2KScales(w, hdr, s, 0, a.qkSum, xb, s32, 0);
                        }
                    } else if (pair) {
                        q5KFused2(w, vals, vals + gb, hdr, hdr + gb, a.q5y, xo / 16 * Q5Y, a.qkSum, xb, s32);
                    } else {
                        q5Sums(w, vals, 16, a.q5y, xo / 16 * Q5Y, s, 0);
                        q5KScales(w, hdr, s, 0, a.qkSum, xb, s32, 0);
                    }
                    q4KFloats(s32, 0, sc.fs, sc.fs2, R * sb, a.qkd, xb, acc, i * R);
                    if (pair) q4KFloats(s32, 2 * R, sc.fsb, sc.fs2b, R * sb, a.qkd, xb, acc, (n + i) * R);
                }
            }
        }
    }

    /**
     * Q4_1, Q5_0 and Q5_1, group g (and g + 1 if {@code pair}), all inputs, into {@code sc.acc}: per chunk the f16 row
     * scales (and mins) converted once, then per input the integer pass and the float step. On a pair: Q5_0/Q5_1 run
     * {@link #q5BlockFused2} for every input, Q4_1 {@link #q4_1Fused2} for a lone input and Q4_0's
     * {@link #blockSums} (up to four inputs sharing each load) otherwise; on a single group {@link #q5Sums} or
     * {@link #blockSums}. The split passes end with {@link #legacyFloats}, which does the fused kernels' float step.
     */
    private static void legacyGroup(Repacked p, int g, boolean pair, ActivationCache a, int n, Scratch sc) {
        boolean five = p.type != GgmlType.Q4_1, min = p.type != GgmlType.Q5_0;
        int cols = p.cols;
        long gb = p.groupBytes, base = g * gb;
        long hs = (min ? 4L : 2L) * R, vb = (five ? 20L : 16L) * R;
        int shortOff = five ? 0 : 8, intOff = p.type == GgmlType.Q5_1 ? 16 : five ? 0 : 8;
        MemorySegment w = p.data;
        float[] acc = sc.acc;
        short[] s = sc.s16;
        int chunk = n <= SHORT_N ? CHUNK_32 : CHUNK;
        for (int c0 = 0; c0 < cols; c0 += chunk) {
            int nb = Math.min(chunk, cols - c0) / 32;
            long hdr = base + hs * (c0 / 32);
            long v = base + hs * (cols / 32) + vb * (c0 / 32);
            halvesToFloats(w, hdr, hs, nb, sc.fs, 0);
            if (min) halvesToFloats(w, hdr + 2L * R, hs, nb, sc.fm, 0);
            if (pair) {
                halvesToFloats(w, hdr + gb, hs, nb, sc.fsb, 0);
                if (min) halvesToFloats(w, hdr + gb + 2L * R, hs, nb, sc.fmb, 0);
            }
            for (int i = 0; i < n; ) {
                int m = five ? 1 : pair && i + 3 < n ? 4 : i + 1 < n ? 2 : 1;
                int xo = i * cols + c0;
                if (five && pair) {
                    // Decode and every input of a batch: both groups at once, sharing the broadcasts.
                    q5BlockFused2(w, v, v + gb, nb, a.q5y8, xo / 16 * Q5Y, a.q8sum, xo / 32, intOff, sc.fs, sc.fsb,
                            min ? sc.fm : null, min ? sc.fmb : null, a.q8d, acc, i * R, (n + i) * R);
                } else if (five) {
                    for (int j = 0; j < (pair ? 2 : 1); j++) {
                        q5Sums(w, v + j * gb, 2 * nb, a.q5y8, xo / 16 * Q5Y, s, 0);
                        legacyFloats(nb, s, 0, true, shortOff, intOff, a.q8sum, j == 0 ? sc.fs : sc.fsb,
                                min ? (j == 0 ? sc.fm : sc.fmb) : null, a.q8d, xo / 32, acc, (j * n + i) * R);
                    }
                } else if (m == 1 && pair) {
                    q4_1Fused2(w, v, v + gb, nb, a.q8y, xo, a.q8sum, sc.fs, sc.fsb, sc.fm, sc.fmb, a.q8d, acc, i * R, (n + i) * R);
                } else {
                    blockSums(m, pair, w, v, gb, nb, a.q8y, xo, cols, s);
                    for (int k = 0; k < m; k++) {
                        int xb = (xo + k * cols) / 32;
                        legacyFloats(nb, s, 2 * k * SL, false, shortOff, intOff, a.q8sum, sc.fs, sc.fm, a.q8d, xb, acc, (i + k) * R);
                        if (pair) legacyFloats(nb, s, (2 * k + 1) * SL, false, shortOff, intOff, a.q8sum, sc.fsb, sc.fmb, a.q8d, xb, acc, (n + i + k) * R);
                    }
                }
                i += m;
            }
        }
    }

    /** Q8_0, group g, all inputs, into {@code sc.acc}. */
    private static void q8_0Group(Repacked p, int g, ActivationCache a, int n, Scratch sc) {
        int cols = p.cols;
        long base = g * p.groupBytes;
        MemorySegment w = p.data;
        float[] acc = sc.acc;
        int chunk = n > 1 ? Q8_TILE : CHUNK_32;
        for (int c0 = 0; c0 < cols; c0 += chunk) {
            int cw = Math.min(chunk, cols - c0);
            for (int i = 0; i < n; i++) {
                int xo = i * cols + c0;
                int a1 = i * R;
                int nb = cols / 32;
                long wq = base + 2L * R * nb + 32L * R * (c0 / 32);
                if (n == 1) {
                    floatSumsQ8_0(w, wq, cw / 32, a.q8f, xo, sc.f32);
                    halvesToFloats(w, base + 2L * R * (c0 / 32), 2L * R, cw / 32, sc.fs, 0);
                } else {
                    if (i == 0) {
                        q8_0ToFloats(w, wq, cw, sc.wf);
                        halvesToFloats(w, base + 2L * R * (c0 / 32), 2L * R, cw / 32, sc.fs, 0);
                    }
                    int q = i & 3;
                    if (i - q + 4 <= n) {
                        // Four inputs at a time: each weight vector loaded once for four FMAs.
                        if (q == 0) floatSumsTile4(sc.wf, cw / 32, a.q8f, xo, cols, sc.f32x4);
                        blockFloatSums(cw / 32, sc.f32x4, q * Q8_SLICE, sc.fs, a.q8d, xo / 32, acc, a1);
                        continue;
                    }
                    floatSumsTile(sc.wf, cw / 32, a.q8f, xo, sc.f32);
                }
                blockFloatSums(cw / 32, sc.f32, 0, sc.fs, a.q8d, xo / 32, acc, a1);
            }
        }
    }

    // ---- integer passes ----
    // Variants: "12" = one group, two inputs (at yo and yo + stride) sharing the weight loads and shifts; "22" = two
    // groups (at, at2) sharing the activation broadcasts as well; "24" = two groups, four inputs. (Two groups with one
    // input run fused with their scale pass: q4_0Fused2, q4KFused2, q6KFused2.) Each (input, group) gets exactly the 16-bit sums it
    // gets alone (wrapping adds: only the sum modulo 2^16 matters, and it is the same in any order). Output slices: see
    // {@link #SL}.

    /**
     * The integer pass of one group over {@code blocks} blocks of 32 columns of nibble vectors (8 per block, from
     * {@code at}) times the telescoped activations {@code y[yo..]}, each block summed in a register: one wrapped 16-bit
     * sum per block goes to {@code s[so + b*R..]}. Exact after the offset correction (the block's true sum of
     * {@code (q - 8) x} fits a short).
     */
    static void blockSums(MemorySegment w, long at, int blocks, short[] y, int yo, short[] s, int so) {
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        for (int b = 0; b < blocks; b++) {
            ShortVector acc = ShortVector.zero(SV);
            for (int t = 0; t < 8; t++) {
                long o = at + 16L * R * b + 2L * R * t;
                int c = yo + 32 * b + 4 * t;
                ShortVector v = ShortVector.fromMemorySegment(SV, w, o, LE);
                acc = acc.add(v.mul(y[c]).add(v.lanewise(LSHR, S4).mul(y[c + 1]))
                        .add(v.lanewise(LSHR, S8).mul(y[c + 2]).add(v.lanewise(LSHR, S12).mul(y[c + 3]))));
            }
            acc.intoArray(s, so + R * b);
        }
    }

    /** {@link #blockSums} for two inputs (to slices 0 and 2). */
    static void blockSums12(MemorySegment w, long at, int blocks, short[] y, int yo, int stride, short[] s) {
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        for (int b = 0; b < blocks; b++) {
            ShortVector acc = ShortVector.zero(SV), acc2 = ShortVector.zero(SV);
            for (int t = 0; t < 8; t++) {
                long o = at + 16L * R * b + 2L * R * t;
                int c = yo + 32 * b + 4 * t, d = c + stride;
                ShortVector v = ShortVector.fromMemorySegment(SV, w, o, LE);
                ShortVector v4 = v.lanewise(LSHR, S4), v8 = v.lanewise(LSHR, S8), v12 = v.lanewise(LSHR, S12);
                acc = acc.add(v.mul(y[c]).add(v4.mul(y[c + 1])).add(v8.mul(y[c + 2]).add(v12.mul(y[c + 3]))));
                acc2 = acc2.add(v.mul(y[d]).add(v4.mul(y[d + 1])).add(v8.mul(y[d + 2]).add(v12.mul(y[d + 3]))));
            }
            acc.intoArray(s, R * b);
            acc2.intoArray(s, 2 * SL + R * b);
        }
    }

    /** {@link #blockSums} for two groups and two inputs (to slices 0..3). */
    static void blockSums22(MemorySegment w, long at, long at2, int blocks, short[] y, int yo, int stride, short[] s) {
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        for (int b = 0; b < blocks; b++) {
            ShortVector a00 = ShortVector.zero(SV), a01 = ShortVector.zero(SV);
            ShortVector a10 = ShortVector.zero(SV), a11 = ShortVector.zero(SV);
            for (int t = 0; t < 8; t++) {
                long o = 16L * R * b + 2L * R * t;
                int c = yo + 32 * b + 4 * t, d = c + stride;
                ShortVector v = ShortVector.fromMemorySegment(SV, w, at + o, LE);
                ShortVector v4 = v.lanewise(LSHR, S4), v8 = v.lanewise(LSHR, S8), v12 = v.lanewise(LSHR, S12);
                ShortVector q = ShortVector.fromMemorySegment(SV, w, at2 + o, LE);
                ShortVector q4 = q.lanewise(LSHR, S4), q8 = q.lanewise(LSHR, S8), q12 = q.lanewise(LSHR, S12);
                ShortVector y0 = ShortVector.broadcast(SV, y[c]), y1 = ShortVector.broadcast(SV, y[c + 1]);
                ShortVector y2 = ShortVector.broadcast(SV, y[c + 2]), y3 = ShortVector.broadcast(SV, y[c + 3]);
                a00 = a00.add(v.mul(y0).add(v4.mul(y1)).add(v8.mul(y2).add(v12.mul(y3))));
                a01 = a01.add(q.mul(y0).add(q4.mul(y1)).add(q8.mul(y2).add(q12.mul(y3))));
                y0 = ShortVector.broadcast(SV, y[d]);
                y1 = ShortVector.broadcast(SV, y[d + 1]);
                y2 = ShortVector.broadcast(SV, y[d + 2]);
                y3 = ShortVector.broadcast(SV, y[d + 3]);
                a10 = a10.add(v.mul(y0).add(v4.mul(y1)).add(v8.mul(y2).add(v12.mul(y3))));
                a11 = a11.add(q.mul(y0).add(q4.mul(y1)).add(q8.mul(y2).add(q12.mul(y3))));
            }
            a00.intoArray(s, R * b);
            a01.intoArray(s, SL + R * b);
            a10.intoArray(s, 2 * SL + R * b);
            a11.intoArray(s, 3 * SL + R * b);
        }
    }

    /** {@link #blockSums} for two groups and four inputs (at {@code yo + k * stride}; to slices 0..7). */
    static void blockSums24(MemorySegment w, long at, long at2, int blocks, short[] y, int yo, int stride, short[] s) {
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        for (int b = 0; b < blocks; b++) {
            ShortVector a00 = ShortVector.zero(SV), a01 = ShortVector.zero(SV);
            ShortVector a10 = ShortVector.zero(SV), a11 = ShortVector.zero(SV);
            ShortVector a20 = ShortVector.zero(SV), a21 = ShortVector.zero(SV);
            ShortVector a30 = ShortVector.zero(SV), a31 = ShortVector.zero(SV);
            for (int t = 0; t < 8; t++) {
                long o = 16L * R * b + 2L * R * t;
                int c = yo + 32 * b + 4 * t;
                ShortVector v = ShortVector.fromMemorySegment(SV, w, at + o, LE);
                ShortVector v4 = v.lanewise(LSHR, S4), v8 = v.lanewise(LSHR, S8), v12 = v.lanewise(LSHR, S12);
                ShortVector q = ShortVector.fromMemorySegment(SV, w, at2 + o, LE);
                ShortVector q4 = q.lanewise(LSHR, S4), q8 = q.lanewise(LSHR, S8), q12 = q.lanewise(LSHR, S12);
                ShortVector y0, y1, y2, y3;
                y0 = ShortVector.broadcast(SV, y[c]);
                y1 = ShortVector.broadcast(SV, y[c + 1]);
                y2 = ShortVector.broadcast(SV, y[c + 2]);
                y3 = ShortVector.broadcast(SV, y[c + 3]);
                a00 = a00.add(v.mul(y0).add(v4.mul(y1)).add(v8.mul(y2).add(v12.mul(y3))));
                a01 = a01.add(q.mul(y0).add(q4.mul(y1)).add(q8.mul(y2).add(q12.mul(y3))));
                c += stride;
                y0 = ShortVector.broadcast(SV, y[c]);
                y1 = ShortVector.broadcast(SV, y[c + 1]);
                y2 = ShortVector.broadcast(SV, y[c + 2]);
                y3 = ShortVector.broadcast(SV, y[c + 3]);
                a10 = a10.add(v.mul(y0).add(v4.mul(y1)).add(v8.mul(y2).add(v12.mul(y3))));
                a11 = a11.add(q.mul(y0).add(q4.mul(y1)).add(q8.mul(y2).add(q12.mul(y3))));
                c += stride;
                y0 = ShortVector.broadcast(SV, y[c]);
                y1 = ShortVector.broadcast(SV, y[c + 1]);
                y2 = ShortVector.broadcast(SV, y[c + 2]);
                y3 = ShortVector.broadcast(SV, y[c + 3]);
                a20 = a20.add(v.mul(y0).add(v4.mul(y1)).add(v8.mul(y2).add(v12.mul(y3))));
                a21 = a21.add(q.mul(y0).add(q4.mul(y1)).add(q8.mul(y2).add(q12.mul(y3))));
                c += stride;
                y0 = ShortVector.broadcast(SV, y[c]);
                y1 = ShortVector.broadcast(SV, y[c + 1]);
                y2 = ShortVector.broadcast(SV, y[c + 2]);
                y3 = ShortVector.broadcast(SV, y[c + 3]);
                a30 = a30.add(v.mul(y0).add(v4.mul(y1)).add(v8.mul(y2).add(v12.mul(y3))));
                a31 = a31.add(q.mul(y0).add(q4.mul(y1)).add(q8.mul(y2).add(q12.mul(y3))));
            }
            a00.intoArray(s, R * b);
            a01.intoArray(s, SL + R * b);
            a10.intoArray(s, 2 * SL + R * b);
            a11.intoArray(s, 3 * SL + R * b);
            a20.intoArray(s, 4 * SL + R * b);
            a21.intoArray(s, 5 * SL + R * b);
            a30.intoArray(s, 6 * SL + R * b);
            a31.intoArray(s, 7 * SL + R * b);
        }
    }

    /**
     * Q6_K's integer pass: per step of 8 columns, the three weight vectors of {@link Repacked}'s Q6_K layout
     * ({@code A = q0 | q1<<6 | lo(q6)<<12}, {@code B = q2 | q3<<6 | lo(q7)<<12},
     * {@code C = q4 | q5<<6 | hi(q6)<<12 | hi(q7)<<14}) from {@code at}, times the telescoped activations
     * {@code y[yo + Q6Y*t..]} ({@link ActivationCache#q6y}: ten factors, then {@code -32 * sum x}); the wrapped 16-bit
     * sum of step t, the exact sum of {@code (q - 32) x} over its 8 columns, goes to {@code s[so + t*R..]}.
     */
    static void q6Sums(MemorySegment w, long at, int steps, short[] y, int yo, short[] s, int so) {
        ShortVector S6 = ShortVector.broadcast(SV, (short) 6);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        ShortVector S14 = ShortVector.broadcast(SV, (short) 14);
        for (int t = 0; t < steps; t++) {
            long o = at + 6L * R * t;
            int c = yo + Q6Y * t;
            ShortVector a = ShortVector.fromMemorySegment(SV, w, o, LE);
            ShortVector b = ShortVector.fromMemorySegment(SV, w, o + 2L * R, LE);
            ShortVector v = ShortVector.fromMemorySegment(SV, w, o + 4L * R, LE);
            ShortVector pa = a.mul(y[c]).add(a.lanewise(LSHR, S6).mul(y[c + 1])).add(a.lanewise(LSHR, S12).mul(y[c + 2]));
            ShortVector pb = b.mul(y[c + 3]).add(b.lanewise(LSHR, S6).mul(y[c + 4])).add(b.lanewise(LSHR, S12).mul(y[c + 5]));
            ShortVector pv = v.mul(y[c + 6]).add(v.lanewise(LSHR, S6).mul(y[c + 7]))
                    .add(v.lanewise(LSHR, S12).mul(y[c + 8]).add(v.lanewise(LSHR, S14).mul(y[c + 9])));
            pa.add(pb).add(pv.add(y[c + 10])).intoArray(s, so + R * t);
        }
    }

    /** {@link #q6Sums} for two inputs (at {@code yo} and {@code yo + stride}; to slices 0 and 2). */
    static void q6Sums12(MemorySegment w, long at, int steps, short[] y, int yo, int stride, short[] s) {
        ShortVector S6 = ShortVector.broadcast(SV, (short) 6);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        ShortVector S14 = ShortVector.broadcast(SV, (short) 14);
        for (int t = 0; t < steps; t++) {
            long o = at + 6L * R * t;
            int c = yo + Q6Y * t, d = c + stride;
            ShortVector a = ShortVector.fromMemorySegment(SV, w, o, LE);
            ShortVector a6 = a.lanewise(LSHR, S6), a12 = a.lanewise(LSHR, S12);
            ShortVector acc = a.mul(y[c]).add(a6.mul(y[c + 1])).add(a12.mul(y[c + 2]));
            ShortVector acc2 = a.mul(y[d]).add(a6.mul(y[d + 1])).add(a12.mul(y[d + 2]));
            a = ShortVector.fromMemorySegment(SV, w, o + 2L * R, LE);
            a6 = a.lanewise(LSHR, S6);
            a12 = a.lanewise(LSHR, S12);
            acc = acc.add(a.mul(y[c + 3]).add(a6.mul(y[c + 4])).add(a12.mul(y[c + 5])));
            acc2 = acc2.add(a.mul(y[d + 3]).add(a6.mul(y[d + 4])).add(a12.mul(y[d + 5])));
            a = ShortVector.fromMemorySegment(SV, w, o + 4L * R, LE);
            a6 = a.lanewise(LSHR, S6);
            a12 = a.lanewise(LSHR, S12);
            ShortVector a14 = a.lanewise(LSHR, S14);
            acc = acc.add(a.mul(y[c + 6]).add(a6.mul(y[c + 7])).add(a12.mul(y[c + 8]).add(a14.mul(y[c + 9]))));
            acc2 = acc2.add(a.mul(y[d + 6]).add(a6.mul(y[d + 7])).add(a12.mul(y[d + 8]).add(a14.mul(y[d + 9]))));
            acc.add(y[c + 10]).intoArray(s, R * t);
            acc2.add(y[d + 10]).intoArray(s, 2 * SL + R * t);
        }
    }

    /** {@link #q6Sums} for two groups and two inputs (to slices 0..3: input k, group j in slice 2k + j). */
    static void q6Sums22(MemorySegment w, long at, long at2, int steps, short[] y, int yo, int stride, short[] s) {
        ShortVector S6 = ShortVector.broadcast(SV, (short) 6);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        ShortVector S2v = ShortVector.broadcast(SV, (short) 2);
        for (int t = 0; t < steps; t++) {
            long o = at + 6L * R * t, o2 = at2 + 6L * R * t;
            int c = yo + Q6Y * t, d = c + stride;
            ShortVector a00 = ShortVector.broadcast(SV, y[c + 10]), a01 = a00;
            ShortVector a10 = ShortVector.broadcast(SV, y[d + 10]), a11 = a10;
            // Vectors A and B: three fields each (6, 6 and 4 bits).
            for (int k = 0; k < 2; k++) {
                ShortVector v = ShortVector.fromMemorySegment(SV, w, o + 2L * R * k, LE);
                ShortVector q = ShortVector.fromMemorySegment(SV, w, o2 + 2L * R * k, LE);
                ShortVector v6 = v.lanewise(LSHR, S6), v12 = v.lanewise(LSHR, S12);
                ShortVector q6 = q.lanewise(LSHR, S6), q12 = q.lanewise(LSHR, S12);
                int ck = c + 3 * k, dk = d + 3 * k;
                ShortVector y0 = ShortVector.broadcast(SV, y[ck]), y1 = ShortVector.broadcast(SV, y[ck + 1]);
                ShortVector y2 = ShortVector.broadcast(SV, y[ck + 2]);
                a00 = a00.add(v.mul(y0).add(v6.mul(y1)).add(v12.mul(y2)));
                a01 = a01.add(q.mul(y0).add(q6.mul(y1)).add(q12.mul(y2)));
                y0 = ShortVector.broadcast(SV, y[dk]);
                y1 = ShortVector.broadcast(SV, y[dk + 1]);
                y2 = ShortVector.broadcast(SV, y[dk + 2]);
                a10 = a10.add(v.mul(y0).add(v6.mul(y1)).add(v12.mul(y2)));
                a11 = a11.add(q.mul(y0).add(q6.mul(y1)).add(q12.mul(y2)));
            }
            // Vector C: four fields (6, 6, 2 and 2 bits).
            ShortVector v = ShortVector.fromMemorySegment(SV, w, o + 4L * R, LE);
            ShortVector q = ShortVector.fromMemorySegment(SV, w, o2 + 4L * R, LE);
            ShortVector v6 = v.lanewise(LSHR, S6), v12 = v.lanewise(LSHR, S12), v14 = v12.lanewise(LSHR, S2v);
            ShortVector q6 = q.lanewise(LSHR, S6), q12 = q.lanewise(LSHR, S12), q14 = q12.lanewise(LSHR, S2v);
            ShortVector y0 = ShortVector.broadcast(SV, y[c + 6]), y1 = ShortVector.broadcast(SV, y[c + 7]);
            ShortVector y2 = ShortVector.broadcast(SV, y[c + 8]), y3 = ShortVector.broadcast(SV, y[c + 9]);
            a00 = a00.add(v.mul(y0).add(v6.mul(y1)).add(v12.mul(y2).add(v14.mul(y3))));
            a01 = a01.add(q.mul(y0).add(q6.mul(y1)).add(q12.mul(y2).add(q14.mul(y3))));
            y0 = ShortVector.broadcast(SV, y[d + 6]);
            y1 = ShortVector.broadcast(SV, y[d + 7]);
            y2 = ShortVector.broadcast(SV, y[d + 8]);
            y3 = ShortVector.broadcast(SV, y[d + 9]);
            a10 = a10.add(v.mul(y0).add(v6.mul(y1)).add(v12.mul(y2).add(v14.mul(y3))));
            a11 = a11.add(q.mul(y0).add(q6.mul(y1)).add(q12.mul(y2).add(q14.mul(y3))));
            a00.intoArray(s, R * t);
            a01.intoArray(s, SL + R * t);
            a10.intoArray(s, 2 * SL + R * t);
            a11.intoArray(s, 3 * SL + R * t);
        }
    }

    /**
     * Q8_0 on the FMA units: per block of 32 columns, each column's R int8 (in row order) are converted to floats,
     * R/2 at a time, and multiplied-added with the activation's int8 value as a float; the block's R sums go to
     * {@code s[R*b..]}. Every product and partial sum is an integer below 2^24 (32 * 127 * 127), so the float sums are
     * exact: the same integers ggml's int8 dot product gives. Cost per column and R/2 rows: one widening load, one
     * conversion, one FMA with a broadcast operand; no shuffles beyond the widening, which is what limits the
     * 16-bit-lane variants.
     */
    static void floatSumsQ8_0(MemorySegment w, long at, int blocks, float[] x, int xo, float[] s) {
        for (int b = 0; b < blocks; b++) {
            // Two independent accumulators per half: an FMA's latency is 4 cycles.
            FloatVector f0 = FloatVector.zero(FV), f1 = FloatVector.zero(FV);
            FloatVector g0 = FloatVector.zero(FV), g1 = FloatVector.zero(FV);
            long o = at + 32L * R * b;
            int c = xo + 32 * b;
            for (int e = 0; e < 32; e += 2) {
                FloatVector xe = FloatVector.broadcast(FV, x[c + e]);
                FloatVector xf = FloatVector.broadcast(FV, x[c + e + 1]);
                long oe = o + (long) R * e;
                f0 = ((FloatVector) ByteVector.fromMemorySegment(BH, w, oe, LE).convertShape(VectorOperators.B2F, FV, 0)).fma(xe, f0);
                f1 = ((FloatVector) ByteVector.fromMemorySegment(BH, w, oe + H, LE).convertShape(VectorOperators.B2F, FV, 0)).fma(xe, f1);
                g0 = ((FloatVector) ByteVector.fromMemorySegment(BH, w, oe + R, LE).convertShape(VectorOperators.B2F, FV, 0)).fma(xf, g0);
                g1 = ((FloatVector) ByteVector.fromMemorySegment(BH, w, oe + R + H, LE).convertShape(VectorOperators.B2F, FV, 0)).fma(xf, g1);
            }
            f0.add(g0).intoArray(s, R * b);
            f1.add(g1).intoArray(s, R * b + H);
        }
    }



    /** The int8 weights of {@code cols} columns (R per column, in lane order) at {@code at} as floats into {@code wf}. */
    static void q8_0ToFloats(MemorySegment w, long at, int cols, float[] wf) {
        for (int e = 0; e < cols; e++) {
            long o = at + (long) R * e;
            ((FloatVector) ByteVector.fromMemorySegment(BH, w, o, LE).convertShape(VectorOperators.B2F, FV, 0)).intoArray(wf, R * e);
            ((FloatVector) ByteVector.fromMemorySegment(BH, w, o + H, LE).convertShape(VectorOperators.B2F, FV, 0)).intoArray(wf, R * e + H);
        }
    }

    /**
     * {@link #floatSumsQ8_0} over weights already converted by {@link #q8_0ToFloats}: the same FMAs in the same order,
     * so the same (exact) sums.
     */
    static void floatSumsTile(float[] wf, int blocks, float[] x, int xo, float[] s) {
        for (int b = 0; b < blocks; b++) {
            FloatVector f0 = FloatVector.zero(FV), f1 = FloatVector.zero(FV);
            FloatVector g0 = FloatVector.zero(FV), g1 = FloatVector.zero(FV);
            int o = 32 * R * b;
            int c = xo + 32 * b;
            for (int e = 0; e < 32; e += 2) {
                FloatVector xe = FloatVector.broadcast(FV, x[c + e]);
                FloatVector xf = FloatVector.broadcast(FV, x[c + e + 1]);
                int oe = o + R * e;
                f0 = FloatVector.fromArray(FV, wf, oe).fma(xe, f0);
                f1 = FloatVector.fromArray(FV, wf, oe + H).fma(xe, f1);
                g0 = FloatVector.fromArray(FV, wf, oe + R).fma(xf, g0);
                g1 = FloatVector.fromArray(FV, wf, oe + R + H).fma(xf, g1);
            }
            f0.add(g0).intoArray(s, R * b);
            f1.add(g1).intoArray(s, R * b + H);
        }
    }

    /**
     * {@link #floatSumsTile} for four inputs at once (at {@code xo}, {@code xo + stride}, ...; sums to
     * {@code s[k*Q8_SLICE ..]}): each input gets the same FMAs in the same order as alone, each weight vector is
     * loaded once for all four.
     */
    static void floatSumsTile4(float[] wf, int blocks, float[] x, int xo, int stride, float[] s) {
        for (int b = 0; b < blocks; b++) {
            FloatVector a0 = FloatVector.zero(FV), a1 = FloatVector.zero(FV), a2 = FloatVector.zero(FV), a3 = FloatVector.zero(FV);
            FloatVector b0 = FloatVector.zero(FV), b1 = FloatVector.zero(FV), b2 = FloatVector.zero(FV), b3 = FloatVector.zero(FV);
            FloatVector c0 = FloatVector.zero(FV), c1 = FloatVector.zero(FV), c2 = FloatVector.zero(FV), c3 = FloatVector.zero(FV);
            FloatVector d0 = FloatVector.zero(FV), d1 = FloatVector.zero(FV), d2 = FloatVector.zero(FV), d3 = FloatVector.zero(FV);
            int o = 32 * R * b;
            int c = xo + 32 * b;
            for (int e = 0; e < 32; e += 2) {
                int oe = o + R * e;
                FloatVector wel = FloatVector.fromArray(FV, wf, oe), weh = FloatVector.fromArray(FV, wf, oe + H);
                FloatVector wfl = FloatVector.fromArray(FV, wf, oe + R), wfh = FloatVector.fromArray(FV, wf, oe + R + H);
                // Input k: a = even column low rows, b = even high, c = odd low, d = odd high (floatSumsTile's f0, f1, g0, g1).
                FloatVector x0 = FloatVector.broadcast(FV, x[c + e]), y0 = FloatVector.broadcast(FV, x[c + e + 1]);
                a0 = wel.fma(x0, a0);
                b0 = weh.fma(x0, b0);
                c0 = wfl.fma(y0, c0);
                d0 = wfh.fma(y0, d0);
                FloatVector x1 = FloatVector.broadcast(FV, x[c + stride + e]), y1 = FloatVector.broadcast(FV, x[c + stride + e + 1]);
                a1 = wel.fma(x1, a1);
                b1 = weh.fma(x1, b1);
                c1 = wfl.fma(y1, c1);
                d1 = wfh.fma(y1, d1);
                FloatVector x2 = FloatVector.broadcast(FV, x[c + 2 * stride + e]), y2 = FloatVector.broadcast(FV, x[c + 2 * stride + e + 1]);
                a2 = wel.fma(x2, a2);
                b2 = weh.fma(x2, b2);
                c2 = wfl.fma(y2, c2);
                d2 = wfh.fma(y2, d2);
                FloatVector x3 = FloatVector.broadcast(FV, x[c + 3 * stride + e]), y3 = FloatVector.broadcast(FV, x[c + 3 * stride + e + 1]);
                a3 = wel.fma(x3, a3);
                b3 = weh.fma(x3, b3);
                c3 = wfl.fma(y3, c3);
                d3 = wfh.fma(y3, d3);
            }
            a0.add(c0).intoArray(s, R * b);
            b0.add(d0).intoArray(s, R * b + H);
            a1.add(c1).intoArray(s, Q8_SLICE + R * b);
            b1.add(d1).intoArray(s, Q8_SLICE + R * b + H);
            a2.add(c2).intoArray(s, 2 * Q8_SLICE + R * b);
            b2.add(d2).intoArray(s, 2 * Q8_SLICE + R * b + H);
            a3.add(c3).intoArray(s, 3 * Q8_SLICE + R * b);
            b3.add(d3).intoArray(s, 3 * Q8_SLICE + R * b + H);
        }
    }

    // ---- scale passes ----
    // No helper methods returning vectors here: a helper compiled on its own first can be too big to inline later,
    // and a vector crossing a call boundary is boxed (a 5x slowdown seen in end-to-end runs). Everything is inline.

    /**
     * {@code count} vectors of R lane-ordered finite f16 at {@code at}, {@code at + stride}, ... to floats in row
     * order: {@code out[oo + R*k ..]} rows 0..R/2-1, then R/2..R-1. An f16 in the top half of an int lane, shifted
     * right arithmetically by 3, has its sign at bit 31 and its exponent and mantissa where an f32 keeps them, with
     * copies of the sign in bits 28-30 (masked off with what came from below): the f32 of the value times 2^-112,
     * subnormals included; a multiply rebiases it exactly. {@link Repacked} refuses tensors with infinite or NaN scales.
     */
    static void halvesToFloats(MemorySegment w, long at, long stride, int count, float[] out, int oo) {
        FloatVector rebias = FloatVector.broadcast(FV, F16_REBIAS);
        IntVector three = IntVector.broadcast(IV, 3);
        for (int k = 0; k < count; k++) {
            IntVector v = ShortVector.fromMemorySegment(SV, w, at + stride * k, LE).reinterpretAsInts();
            IntVector lo = v.lanewise(LSHL, SIXTEEN).lanewise(ASHR, three).and(F16_BITS);
            IntVector hi = v.lanewise(ASHR, three).and(F16_BITS);
            ((FloatVector) lo.reinterpretAsFloats()).mul(rebias).intoArray(out, oo + R * k);
            ((FloatVector) hi.reinterpretAsFloats()).mul(rebias).intoArray(out, oo + R * k + H);
        }
    }

    /**
     * Q4_0, one input, a pair of groups: per block of 32 columns the integer pass of both groups (as {@link #blockSums}, sharing the broadcasts) and at once
     * its scale pass (as {@link #q4_0Floats}), so that weight loads come every few instructions instead of in bursts.
     * Same operations in the same order, same results; {@code acc[ao..]} for {@code at}, {@code acc[bo..]} for
     * {@code at2}, with their per-row scales in {@code fs} and {@code fsb}.
     */
    static void q4_0Fused2(MemorySegment w, long at, long at2, int blocks, short[] y, int yo, int[] xsum, float[] fs,
                           float[] fsb, float[] xd, float[] acc, int ao, int bo) {
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        FloatVector g0 = FloatVector.fromArray(FV, acc, bo), g1 = FloatVector.fromArray(FV, acc, bo + H);
        int xb = yo / 32;
        for (int b = 0; b < blocks; b++) {
            ShortVector s1 = ShortVector.zero(SV), s2 = ShortVector.zero(SV);
            for (int t = 0; t < 8; t++) {
                long d = 16L * R * b + 2L * R * t;
                int c = yo + 32 * b + 4 * t;
                ShortVector v = ShortVector.fromMemorySegment(SV, w, at + d, LE);
                ShortVector v2 = ShortVector.fromMemorySegment(SV, w, at2 + d, LE);
                ShortVector y0 = ShortVector.broadcast(SV, y[c]), y1 = ShortVector.broadcast(SV, y[c + 1]);
                ShortVector y2 = ShortVector.broadcast(SV, y[c + 2]), y3 = ShortVector.broadcast(SV, y[c + 3]);
                s1 = s1.add(v.mul(y0).add(v.lanewise(LSHR, S4).mul(y1))
                        .add(v.lanewise(LSHR, S8).mul(y2).add(v.lanewise(LSHR, S12).mul(y3))));
                s2 = s2.add(v2.mul(y0).add(v2.lanewise(LSHR, S4).mul(y1))
                        .add(v2.lanewise(LSHR, S8).mul(y2).add(v2.lanewise(LSHR, S12).mul(y3))));
            }
            short off = (short) (8 * xsum[xb + b]);
            FloatVector d = FloatVector.broadcast(FV, xd[xb + b]);
            IntVector t = s1.sub(off).reinterpretAsInts();
            FloatVector v0 = (FloatVector) t.lanewise(LSHL, SIXTEEN).lanewise(ASHR, SIXTEEN).convert(VectorOperators.I2F, 0);
            FloatVector v1 = (FloatVector) t.lanewise(ASHR, SIXTEEN).convert(VectorOperators.I2F, 0);
            f0 = v0.fma(FloatVector.fromArray(FV, fs, R * b).mul(d), f0);
            f1 = v1.fma(FloatVector.fromArray(FV, fs, R * b + H).mul(d), f1);
            t = s2.sub(off).reinterpretAsInts();
            v0 = (FloatVector) t.lanewise(LSHL, SIXTEEN).lanewise(ASHR, SIXTEEN).convert(VectorOperators.I2F, 0);
            v1 = (FloatVector) t.lanewise(ASHR, SIXTEEN).convert(VectorOperators.I2F, 0);
            g0 = v0.fma(FloatVector.fromArray(FV, fsb, R * b).mul(d), g0);
            g1 = v1.fma(FloatVector.fromArray(FV, fsb, R * b + H).mul(d), g1);
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
        g0.intoArray(acc, bo);
        g1.intoArray(acc, bo + H);
    }

    /**
     * Q4_0's scale pass: per block, the 16-bit sums {@code s[so + R*b..]} minus the offset {@code 8 * sum x} (the
     * exact {@code sum (q - 8) x}), widened (rows 0..R/2-1 from the low halves, the rest from the high ones),
     * converted, and {@code acc += sum * scale * d_x} with the per-row scales {@code scales[R*b..]}.
     */
    static void q4_0Floats(int nb, short[] s, int so, int[] xsum, float[] scales, float[] xd, int xb, float[] acc, int ao) {
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        for (int b = 0; b < nb; b++) {
            IntVector t = ShortVector.fromArray(SV, s, so + R * b).sub((short) (8 * xsum[xb + b])).reinterpretAsInts();
            FloatVector d = FloatVector.broadcast(FV, xd[xb + b]);
            FloatVector v0 = (FloatVector) t.lanewise(LSHL, SIXTEEN).lanewise(ASHR, SIXTEEN).convert(VectorOperators.I2F, 0);
            FloatVector v1 = (FloatVector) t.lanewise(ASHR, SIXTEEN).convert(VectorOperators.I2F, 0);
            f0 = v0.fma(FloatVector.fromArray(FV, scales, R * b).mul(d), f0);
            f1 = v1.fma(FloatVector.fromArray(FV, scales, R * b + H).mul(d), f1);
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
    }

    /**
     * The float step of Q4_1, Q5_0 and Q5_1, per block of 32 columns: the block's 16-bit sum ({@code s[so + R*b..]}),
     * or with {@code two} its two 16-column sums ({@code s[so + 2R*b..]} and the next R), minus
     * {@code shortOff * sum x} in 16 bits (what makes Q4_1's sum exact), widened and added, plus {@code intOff * sum x}
     * in ints: the exact {@code sum q x} (Q5_0: {@code sum (q - 16) x}). Then {@code acc += sum * d * d_x}, and with
     * mins {@code acc += m * sum x * d_x}.
     */
    static void legacyFloats(int nb, short[] s, int so, boolean two, int shortOff, int intOff, int[] xsum, float[] d,
                             float[] mn, float[] xd, int xb, float[] acc, int ao) {
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        for (int b = 0; b < nb; b++) {
            int xs = xsum[xb + b];
            IntVector t = ShortVector.fromArray(SV, s, so + R * (two ? 2 * b : b)).sub((short) (shortOff * xs)).reinterpretAsInts();
            IntVector lo = t.lanewise(LSHL, SIXTEEN).lanewise(ASHR, SIXTEEN), hi = t.lanewise(ASHR, SIXTEEN);
            if (two) {
                IntVector u = ShortVector.fromArray(SV, s, so + R * (2 * b + 1)).reinterpretAsInts();
                lo = lo.add(u.lanewise(LSHL, SIXTEEN).lanewise(ASHR, SIXTEEN));
                hi = hi.add(u.lanewise(ASHR, SIXTEEN));
            }
            lo = lo.add(intOff * xs);
            hi = hi.add(intOff * xs);
            float dx = xd[xb + b];
            FloatVector dv = FloatVector.broadcast(FV, dx);
            f0 = ((FloatVector) lo.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, d, R * b).mul(dv), f0);
            f1 = ((FloatVector) hi.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, d, R * b + H).mul(dv), f1);
            if (mn != null) {
                FloatVector mx = FloatVector.broadcast(FV, xs * dx);
                f0 = FloatVector.fromArray(FV, mn, R * b).fma(mx, f0);
                f1 = FloatVector.fromArray(FV, mn, R * b + H).fma(mx, f1);
            }
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
    }

    /**
     * {@code acc += s32 * scale * d_x} per block, R rows ({@code s32[so + R*b..]}): one f32 scale per row and block in
     * {@code scales[sco + R*b..]}.
     */
    static void blockFloats(int nb, int[] s32, int so, float[] scales, int sco, float[] xd, int xb, float[] acc, int ao) {
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        for (int b = 0; b < nb; b++) {
            FloatVector d = FloatVector.broadcast(FV, xd[xb + b]);
            FloatVector v0 = (FloatVector) IntVector.fromArray(IV, s32, so + R * b).convert(VectorOperators.I2F, 0);
            FloatVector v1 = (FloatVector) IntVector.fromArray(IV, s32, so + R * b + H).convert(VectorOperators.I2F, 0);
            f0 = v0.fma(FloatVector.fromArray(FV, scales, sco + R * b).mul(d), f0);
            f1 = v1.fma(FloatVector.fromArray(FV, scales, sco + R * b + H).mul(d), f1);
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
    }

    /** {@link #blockFloats} for float sums (Q8_0). */
    static void blockFloatSums(int nb, float[] s, int so, float[] scales, float[] xd, int xb, float[] acc, int ao) {
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        for (int b = 0; b < nb; b++) {
            FloatVector d = FloatVector.broadcast(FV, xd[xb + b]);
            f0 = FloatVector.fromArray(FV, s, so + R * b).fma(FloatVector.fromArray(FV, scales, R * b).mul(d), f0);
            f1 = FloatVector.fromArray(FV, s, so + R * b + H).fma(FloatVector.fromArray(FV, scales, R * b + H).mul(d), f1);
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
    }

    /**
     * Q4_K, float half, one super-block: as ggml, {@code acc += (d_x d) * sums - (d_x dmin) * mins}; the sums and
     * mins at {@code s32[k..k+2R)}, the scales at {@code d[dso..]} and {@code dmin[dso..]}.
     */
    static void q4KFloats(int[] s32, int k, float[] d, float[] dmin, int dso, float[] xd, int xb, float[] acc, int ao) {
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        FloatVector dx = FloatVector.broadcast(FV, xd[xb]);
        FloatVector s0 = (FloatVector) IntVector.fromArray(IV, s32, k).convert(VectorOperators.I2F, 0);
        FloatVector s1 = (FloatVector) IntVector.fromArray(IV, s32, k + H).convert(VectorOperators.I2F, 0);
        FloatVector n0 = (FloatVector) IntVector.fromArray(IV, s32, k + R).convert(VectorOperators.I2F, 0);
        FloatVector n1 = (FloatVector) IntVector.fromArray(IV, s32, k + R + H).convert(VectorOperators.I2F, 0);
        f0 = f0.add(s0.mul(FloatVector.fromArray(FV, d, dso).mul(dx))
                .sub(n0.mul(FloatVector.fromArray(FV, dmin, dso).mul(dx))));
        f1 = f1.add(s1.mul(FloatVector.fromArray(FV, d, dso + H).mul(dx))
                .sub(n1.mul(FloatVector.fromArray(FV, dmin, dso + H).mul(dx))));
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
    }

    /**
     * Q4_K, one input, a pair of groups, one super-block, into {@code acc[ao..]} (group {@code at}) and {@code acc[bo..]}
     * (group {@code at2}): per block of 32 columns the integer pass (as {@link #blockSums} for both groups, sharing the
     * broadcasts) and at once its share of the integer scale pass (as {@link #q4KHalf}), so that weight loads come every
     * few instructions instead of in bursts; then the float step (as {@link #q4KFloats}) with the super-block's f16
     * {@code d} and {@code dmin} converted here (as {@link #halvesToFloats}) instead of in a pass of their own. Same
     * operations, same results.
     */
    static void q4KFused2(MemorySegment w, long at, long at2, long hdr, long hdr2, short[] y, int yo, int[] bsum, int xb,
                          float[] xd, float[] acc, int ao, int bo) {
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        IntVector a0 = IntVector.zero(IV), a1 = a0, m0 = a0, m1 = a0, b0 = a0, b1 = a0, n0 = a0, n1 = a0;
        for (int j = 0; j < 8; j++) {
            ShortVector acc1 = ShortVector.zero(SV), acc2 = ShortVector.zero(SV);
            for (int t = 0; t < 8; t++) {
                long d = 16L * R * j + 2L * R * t;
                int c = yo + 32 * j + 4 * t;
                ShortVector v = ShortVector.fromMemorySegment(SV, w, at + d, LE);
                ShortVector v2 = ShortVector.fromMemorySegment(SV, w, at2 + d, LE);
                ShortVector y0 = ShortVector.broadcast(SV, y[c]), y1 = ShortVector.broadcast(SV, y[c + 1]);
                ShortVector y2 = ShortVector.broadcast(SV, y[c + 2]), y3 = ShortVector.broadcast(SV, y[c + 3]);
                acc1 = acc1.add(v.mul(y0).add(v.lanewise(LSHR, S4).mul(y1))
                        .add(v.lanewise(LSHR, S8).mul(y2).add(v.lanewise(LSHR, S12).mul(y3))));
                acc2 = acc2.add(v2.mul(y0).add(v2.lanewise(LSHR, S4).mul(y1))
                        .add(v2.lanewise(LSHR, S8).mul(y2).add(v2.lanewise(LSHR, S12).mul(y3))));
            }
            int xs = bsum[16 * xb + 2 * j] + bsum[16 * xb + 2 * j + 1];
            IntVector t = acc1.sub((short) (8 * xs)).reinterpretAsInts();
            long sa = hdr + 4L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).add(8 * xs).mul(sc0));
            a1 = a1.add(t.lanewise(ASHR, 16).add(8 * xs).mul(sc1));
            m0 = m0.add(mn0.mul(xs));
            m1 = m1.add(mn1.mul(xs));
            t = acc2.sub((short) (8 * xs)).reinterpretAsInts();
            sa = hdr2 + 4L * R + (long) R * j;
            sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            mn0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R, LE).convertShape(VectorOperators.B2I, IV, 0);
            mn1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            b0 = b0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).add(8 * xs).mul(sc0));
            b1 = b1.add(t.lanewise(ASHR, 16).add(8 * xs).mul(sc1));
            n0 = n0.add(mn0.mul(xs));
            n1 = n1.add(mn1.mul(xs));
        }
        IntVector three = IntVector.broadcast(IV, 3);
        FloatVector rebias = FloatVector.broadcast(FV, F16_REBIAS);
        FloatVector dx = FloatVector.broadcast(FV, xd[xb]);
        IntVector hd = ShortVector.fromMemorySegment(SV, w, hdr, LE).reinterpretAsInts();
        IntVector hm = ShortVector.fromMemorySegment(SV, w, hdr + 2L * R, LE).reinterpretAsInts();
        FloatVector d0 = ((FloatVector) hd.lanewise(LSHL, SIXTEEN).lanewise(ASHR, three).and(F16_BITS).reinterpretAsFloats()).mul(rebias);
        FloatVector d1 = ((FloatVector) hd.lanewise(ASHR, three).and(F16_BITS).reinterpretAsFloats()).mul(rebias);
        FloatVector e0 = ((FloatVector) hm.lanewise(LSHL, SIXTEEN).lanewise(ASHR, three).and(F16_BITS).reinterpretAsFloats()).mul(rebias);
        FloatVector e1 = ((FloatVector) hm.lanewise(ASHR, three).and(F16_BITS).reinterpretAsFloats()).mul(rebias);
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        f0 = f0.add(((FloatVector) a0.convert(VectorOperators.I2F, 0)).mul(d0.mul(dx))
                .sub(((FloatVector) m0.convert(VectorOperators.I2F, 0)).mul(e0.mul(dx))));
        f1 = f1.add(((FloatVector) a1.convert(VectorOperators.I2F, 0)).mul(d1.mul(dx))
                .sub(((FloatVector) m1.convert(VectorOperators.I2F, 0)).mul(e1.mul(dx))));
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
        hd = ShortVector.fromMemorySegment(SV, w, hdr2, LE).reinterpretAsInts();
        hm = ShortVector.fromMemorySegment(SV, w, hdr2 + 2L * R, LE).reinterpretAsInts();
        d0 = ((FloatVector) hd.lanewise(LSHL, SIXTEEN).lanewise(ASHR, three).and(F16_BITS).reinterpretAsFloats()).mul(rebias);
        d1 = ((FloatVector) hd.lanewise(ASHR, three).and(F16_BITS).reinterpretAsFloats()).mul(rebias);
        e0 = ((FloatVector) hm.lanewise(LSHL, SIXTEEN).lanewise(ASHR, three).and(F16_BITS).reinterpretAsFloats()).mul(rebias);
        e1 = ((FloatVector) hm.lanewise(ASHR, three).and(F16_BITS).reinterpretAsFloats()).mul(rebias);
        f0 = FloatVector.fromArray(FV, acc, bo);
        f1 = FloatVector.fromArray(FV, acc, bo + H);
        f0 = f0.add(((FloatVector) b0.convert(VectorOperators.I2F, 0)).mul(d0.mul(dx))
                .sub(((FloatVector) n0.convert(VectorOperators.I2F, 0)).mul(e0.mul(dx))));
        f1 = f1.add(((FloatVector) b1.convert(VectorOperators.I2F, 0)).mul(d1.mul(dx))
                .sub(((FloatVector) n1.convert(VectorOperators.I2F, 0)).mul(e1.mul(dx))));
        f0.intoArray(acc, bo);
        f1.intoArray(acc, bo + H);
    }

    /**
     * Q4_K, integer half of the scale pass, for one super-block, half {@code half} (sub-blocks 4h..4h+3, their 16-bit sums in
     * {@code s[so..so+4R)}): half 0 sets {@code s32[o..o+2R)} (sums, then mins), half 1 adds to it.
     */
    static void q4KHalf(MemorySegment w, long hdr, int half, short[] s, int so, int[] bsum, int xb, int[] s32, int o) {
        IntVector a0, a1, m0, m1;
        if (half == 0) {
            a0 = IntVector.zero(IV);
            a1 = IntVector.zero(IV);
            m0 = IntVector.zero(IV);
            m1 = IntVector.zero(IV);
        } else {
            a0 = IntVector.fromArray(IV, s32, o);
            a1 = IntVector.fromArray(IV, s32, o + H);
            m0 = IntVector.fromArray(IV, s32, o + R);
            m1 = IntVector.fromArray(IV, s32, o + R + H);
        }
        for (int k = 0; k < 4; k++) {
            int j = 4 * half + k;
            int xs = bsum[16 * xb + 2 * j] + bsum[16 * xb + 2 * j + 1];
            // t = sum (q - 8) x exactly; sum q x = t + 8 * sum x.
            IntVector t = ShortVector.fromArray(SV, s, so + R * k).sub((short) (8 * xs)).reinterpretAsInts();
            long sa = hdr + 4L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).add(8 * xs).mul(sc0));
            a1 = a1.add(t.lanewise(ASHR, 16).add(8 * xs).mul(sc1));
            m0 = m0.add(mn0.mul(xs));
            m1 = m1.add(mn1.mul(xs));
        }
        a0.intoArray(s32, o);
        a1.intoArray(s32, o + H);
        m0.intoArray(s32, o + R);
        m1.intoArray(s32, o + R + H);
    }

    /**
     * {@link #q4KHalf} for two inputs (16-bit sums at {@code so} and {@code so2}, activation super-blocks {@code xb} and
     * {@code xb2}, to {@code s32[o..]} and {@code s32[o2..]}): the weights' scales and mins are widened once for both.
     */
    static void q4KHalf12(MemorySegment w, long hdr, int half, short[] s, int so, int so2, int[] bsum, int xb, int xb2,
                          int[] s32, int o, int o2) {
        IntVector a0, a1, m0, m1, b0, b1, n0, n1;
        if (half == 0) {
            a0 = IntVector.zero(IV);
            a1 = IntVector.zero(IV);
            m0 = IntVector.zero(IV);
            m1 = IntVector.zero(IV);
            b0 = IntVector.zero(IV);
            b1 = IntVector.zero(IV);
            n0 = IntVector.zero(IV);
            n1 = IntVector.zero(IV);
        } else {
            a0 = IntVector.fromArray(IV, s32, o);
            a1 = IntVector.fromArray(IV, s32, o + H);
            m0 = IntVector.fromArray(IV, s32, o + R);
            m1 = IntVector.fromArray(IV, s32, o + R + H);
            b0 = IntVector.fromArray(IV, s32, o2);
            b1 = IntVector.fromArray(IV, s32, o2 + H);
            n0 = IntVector.fromArray(IV, s32, o2 + R);
            n1 = IntVector.fromArray(IV, s32, o2 + R + H);
        }
        for (int k = 0; k < 4; k++) {
            int j = 4 * half + k;
            long sa = hdr + 4L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            int xs = bsum[16 * xb + 2 * j] + bsum[16 * xb + 2 * j + 1];
            IntVector t = ShortVector.fromArray(SV, s, so + R * k).sub((short) (8 * xs)).reinterpretAsInts();
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).add(8 * xs).mul(sc0));
            a1 = a1.add(t.lanewise(ASHR, 16).add(8 * xs).mul(sc1));
            m0 = m0.add(mn0.mul(xs));
            m1 = m1.add(mn1.mul(xs));
            int xs2 = bsum[16 * xb2 + 2 * j] + bsum[16 * xb2 + 2 * j + 1];
            IntVector t2 = ShortVector.fromArray(SV, s, so2 + R * k).sub((short) (8 * xs2)).reinterpretAsInts();
            b0 = b0.add(t2.lanewise(LSHL, 16).lanewise(ASHR, 16).add(8 * xs2).mul(sc0));
            b1 = b1.add(t2.lanewise(ASHR, 16).add(8 * xs2).mul(sc1));
            n0 = n0.add(mn0.mul(xs2));
            n1 = n1.add(mn1.mul(xs2));
        }
        a0.intoArray(s32, o);
        a1.intoArray(s32, o + H);
        m0.intoArray(s32, o + R);
        m1.intoArray(s32, o + R + H);
        b0.intoArray(s32, o2);
        b1.intoArray(s32, o2 + H);
        n0.intoArray(s32, o2 + R);
        n1.intoArray(s32, o2 + R + H);
    }

    /** {@link #q6KHalf} for two inputs (sums at {@code so} and {@code so2}, to {@code s32[o..]} and {@code s32[o2..]}). */
    static void q6KHalf12(MemorySegment w, long hdr, int half, short[] s, int so, int so2, int[] s32, int o, int o2) {
        IntVector a0, a1, b0, b1;
        if (half == 0) {
            a0 = IntVector.zero(IV);
            a1 = IntVector.zero(IV);
            b0 = IntVector.zero(IV);
            b1 = IntVector.zero(IV);
        } else {
            a0 = IntVector.fromArray(IV, s32, o);
            a1 = IntVector.fromArray(IV, s32, o + H);
            b0 = IntVector.fromArray(IV, s32, o2);
            b1 = IntVector.fromArray(IV, s32, o2 + H);
        }
        for (int k = 0; k < 8; k++) {
            int j = 8 * half + k;
            long sa = hdr + 2L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector t = ShortVector.fromArray(SV, s, so + 2 * R * k).reinterpretAsInts();
            IntVector u = ShortVector.fromArray(SV, s, so + 2 * R * k + R).reinterpretAsInts();
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).add(u.lanewise(LSHL, 16).lanewise(ASHR, 16)).mul(sc0));
            a1 = a1.add(t.lanewise(ASHR, 16).add(u.lanewise(ASHR, 16)).mul(sc1));
            t = ShortVector.fromArray(SV, s, so2 + 2 * R * k).reinterpretAsInts();
            u = ShortVector.fromArray(SV, s, so2 + 2 * R * k + R).reinterpretAsInts();
            b0 = b0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).add(u.lanewise(LSHL, 16).lanewise(ASHR, 16)).mul(sc0));
            b1 = b1.add(t.lanewise(ASHR, 16).add(u.lanewise(ASHR, 16)).mul(sc1));
        }
        a0.intoArray(s32, o);
        a1.intoArray(s32, o + H);
        b0.intoArray(s32, o2);
        b1.intoArray(s32, o2 + H);
    }

    /**
     * Q6_K, one input, a pair of groups, half a super-block: per 16 columns (one int8 sub-block scale) the integer
     * pass of its two 8-column steps (as {@link #q6Sums} for both groups, sharing the broadcasts) and at once their share of the scale pass (as
     * {@link #q6KHalf}), so that weight loads come every few instructions instead of in bursts of a whole half. Same
     * integer operations, same results: {@code s32[0..R)} for {@code at}, {@code [R..2R)} for {@code at2}.
     */
    static void q6KFused2(MemorySegment w, long at, long at2, long hdr, long hdr2, int half, short[] y, int yo, int[] s32) {
        ShortVector S2 = ShortVector.broadcast(SV, (short) 2);
        ShortVector S6 = ShortVector.broadcast(SV, (short) 6);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        IntVector a0, a1, b0, b1;
        if (half == 0) {
            a0 = a1 = b0 = b1 = IntVector.zero(IV);
        } else {
            a0 = IntVector.fromArray(IV, s32, 0);
            a1 = IntVector.fromArray(IV, s32, H);
            b0 = IntVector.fromArray(IV, s32, R);
            b1 = IntVector.fromArray(IV, s32, R + H);
        }
        for (int k = 0; k < 8; k++) {
            // The two 8-column sums of each group, widened from their 16-bit halves and added: lo/hi for at, lo2/hi2
            // for at2 (rows 0..R/2-1 and R/2..R-1).
            IntVector lo = IntVector.zero(IV), hi = lo, lo2 = lo, hi2 = lo;
            for (int e = 0; e < 2; e++) {
                long o = at + 6L * R * (2 * k + e), o2 = at2 + 6L * R * (2 * k + e);
                int c = yo + Q6Y * (2 * k + e);
                ShortVector y0 = ShortVector.broadcast(SV, y[c]), y1 = ShortVector.broadcast(SV, y[c + 1]);
                ShortVector y2 = ShortVector.broadcast(SV, y[c + 2]);
                ShortVector a = ShortVector.fromMemorySegment(SV, w, o, LE);
                ShortVector q = ShortVector.fromMemorySegment(SV, w, o2, LE);
                ShortVector acc = a.mul(y0).add(a.lanewise(LSHR, S6).mul(y1)).add(a.lanewise(LSHR, S12).mul(y2));
                ShortVector acc2 = q.mul(y0).add(q.lanewise(LSHR, S6).mul(y1)).add(q.lanewise(LSHR, S12).mul(y2));
                y0 = ShortVector.broadcast(SV, y[c + 3]);
                y1 = ShortVector.broadcast(SV, y[c + 4]);
                y2 = ShortVector.broadcast(SV, y[c + 5]);
                a = ShortVector.fromMemorySegment(SV, w, o + 2L * R, LE);
                q = ShortVector.fromMemorySegment(SV, w, o2 + 2L * R, LE);
                acc = acc.add(a.mul(y0).add(a.lanewise(LSHR, S6).mul(y1)).add(a.lanewise(LSHR, S12).mul(y2)));
                acc2 = acc2.add(q.mul(y0).add(q.lanewise(LSHR, S6).mul(y1)).add(q.lanewise(LSHR, S12).mul(y2)));
                y0 = ShortVector.broadcast(SV, y[c + 6]);
                y1 = ShortVector.broadcast(SV, y[c + 7]);
                y2 = ShortVector.broadcast(SV, y[c + 8]);
                ShortVector y3 = ShortVector.broadcast(SV, y[c + 9]);
                a = ShortVector.fromMemorySegment(SV, w, o + 4L * R, LE);
                q = ShortVector.fromMemorySegment(SV, w, o2 + 4L * R, LE);
                ShortVector a12 = a.lanewise(LSHR, S12), q12 = q.lanewise(LSHR, S12);
                acc = acc.add(a.mul(y0).add(a.lanewise(LSHR, S6).mul(y1)).add(a12.mul(y2).add(a12.lanewise(LSHR, S2).mul(y3))));
                acc2 = acc2.add(q.mul(y0).add(q.lanewise(LSHR, S6).mul(y1)).add(q12.mul(y2).add(q12.lanewise(LSHR, S2).mul(y3))));
                IntVector t = acc.add(y[c + 10]).reinterpretAsInts(), t2 = acc2.add(y[c + 10]).reinterpretAsInts();
                lo = lo.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16));
                hi = hi.add(t.lanewise(ASHR, 16));
                lo2 = lo2.add(t2.lanewise(LSHL, 16).lanewise(ASHR, 16));
                hi2 = hi2.add(t2.lanewise(ASHR, 16));
            }
            int j = 8 * half + k;
            long sa = hdr + 2L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(lo.mul(sc0));
            a1 = a1.add(hi.mul(sc1));
            sa = hdr2 + 2L * R + (long) R * j;
            sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            b0 = b0.add(lo2.mul(sc0));
            b1 = b1.add(hi2.mul(sc1));
        }
        a0.intoArray(s32, 0);
        a1.intoArray(s32, H);
        b0.intoArray(s32, R);
        b1.intoArray(s32, R + H);
    }

    /**
     * Q6_K, integer half of the scale pass, for one super-block, half {@code half} (groups of 16 columns 8h..8h+7, their 8-column sums in
     * {@code s[so..so+16R)}): half 0 sets {@code s32[o..o+R)}, half 1 adds to it.
     */
    static void q6KHalf(MemorySegment w, long hdr, int half, short[] s, int so, int[] s32, int o) {
        IntVector a0, a1;
        if (half == 0) {
            a0 = IntVector.zero(IV);
            a1 = IntVector.zero(IV);
        } else {
            a0 = IntVector.fromArray(IV, s32, o);
            a1 = IntVector.fromArray(IV, s32, o + H);
        }
        for (int k = 0; k < 8; k++) {
            int j = 8 * half + k;
            IntVector t = ShortVector.fromArray(SV, s, so + 2 * R * k).reinterpretAsInts();
            IntVector u = ShortVector.fromArray(SV, s, so + 2 * R * k + R).reinterpretAsInts();
            long sa = hdr + 2L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).add(u.lanewise(LSHL, 16).lanewise(ASHR, 16)).mul(sc0));
            a1 = a1.add(t.lanewise(ASHR, 16).add(u.lanewise(ASHR, 16)).mul(sc1));
        }
        a0.intoArray(s32, o);
        a1.intoArray(s32, o + H);
    }


    /**
     * The integer pass of Q3_K, one group, one input: per step of 16 columns, three vectors of 3-bit fields
     * ({@link Repacked}) from {@code at}, times the telescoped activations {@code y[yo + Q3Y*t..]}
     * ({@link ActivationCache#q3y}: eighteen factors, then {@code -4 * sum x}); the wrapped 16-bit sum of step t, the
     * exact sum of {@code (u - 4) x} over its 16 columns (at most 16*4*127 in magnitude), goes to {@code s[so + t*R..]}.
     */
    static void q3Sums(MemorySegment w, long at, int steps, short[] y, int yo, short[] s, int so) {
        ShortVector S3 = ShortVector.broadcast(SV, (short) 3), S6 = ShortVector.broadcast(SV, (short) 6);
        ShortVector S9 = ShortVector.broadcast(SV, (short) 9), S12 = ShortVector.broadcast(SV, (short) 12);
        ShortVector S15 = ShortVector.broadcast(SV, (short) 15);
        for (int t = 0; t < steps; t++) {
            long o = at + 6L * R * t;
            int c = yo + Q3Y * t;
            ShortVector a = ShortVector.fromMemorySegment(SV, w, o, LE);
            ShortVector acc = a.mul(y[c]).add(a.lanewise(LSHR, S3).mul(y[c + 1]))
                    .add(a.lanewise(LSHR, S6).mul(y[c + 2]).add(a.lanewise(LSHR, S9).mul(y[c + 3])))
                    .add(a.lanewise(LSHR, S12).mul(y[c + 4]).add(a.lanewise(LSHR, S15).mul(y[c + 5])));
            a = ShortVector.fromMemorySegment(SV, w, o + 2L * R, LE);
            acc = acc.add(a.mul(y[c + 6]).add(a.lanewise(LSHR, S3).mul(y[c + 7]))
                    .add(a.lanewise(LSHR, S6).mul(y[c + 8]).add(a.lanewise(LSHR, S9).mul(y[c + 9])))
                    .add(a.lanewise(LSHR, S12).mul(y[c + 10]).add(a.lanewise(LSHR, S15).mul(y[c + 11]))));
            a = ShortVector.fromMemorySegment(SV, w, o + 4L * R, LE);
            acc = acc.add(a.mul(y[c + 12]).add(a.lanewise(LSHR, S3).mul(y[c + 13]))
                    .add(a.lanewise(LSHR, S6).mul(y[c + 14]).add(a.lanewise(LSHR, S9).mul(y[c + 15])))
                    .add(a.lanewise(LSHR, S12).mul(y[c + 16]).add(a.lanewise(LSHR, S15).mul(y[c + 17]))));
            acc.add(y[c + 18]).intoArray(s, so + R * t);
        }
    }

    /**
     * Q3_K, integer scale pass of one super-block: its sixteen 16-column sums ({@code s[so..so+16R)}) widened from their
     * 16-bit halves and multiplied by the int8 sub-block scales, to {@code s32[o..o+R)}.
     */
    static void q3KScales(MemorySegment w, long hdr, short[] s, int so, int[] s32, int o) {
        IntVector a0 = IntVector.zero(IV), a1 = a0;
        for (int j = 0; j < 16; j++) {
            IntVector t = ShortVector.fromArray(SV, s, so + R * j).reinterpretAsInts();
            long sa = hdr + 2L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).mul(sc0));
            a1 = a1.add(t.lanewise(ASHR, 16).mul(sc1));
        }
        a0.intoArray(s32, o);
        a1.intoArray(s32, o + H);
    }

    /**
     * Q3_K, one input, a pair of groups, one super-block: per 16 columns the integer pass of both groups (as
     * {@link #q3Sums}, sharing the broadcasts) and at once its share of the scale pass (as {@link #q3KScales}). Same
     * integer operations, same results: {@code s32[0..R)} for {@code at}, {@code [R..2R)} for {@code at2}.
     */
    static void q3KFused2(MemorySegment w, long at, long at2, long hdr, long hdr2, short[] y, int yo, int[] s32) {
        ShortVector S3 = ShortVector.broadcast(SV, (short) 3), S6 = ShortVector.broadcast(SV, (short) 6);
        ShortVector S9 = ShortVector.broadcast(SV, (short) 9), S12 = ShortVector.broadcast(SV, (short) 12);
        ShortVector S15 = ShortVector.broadcast(SV, (short) 15);
        IntVector a0 = IntVector.zero(IV), a1 = a0, b0 = a0, b1 = a0;
        for (int j = 0; j < 16; j++) {
            long o = at + 6L * R * j, o2 = at2 + 6L * R * j;
            int c = yo + Q3Y * j;
            ShortVector acc = ShortVector.zero(SV), acc2 = acc;
            for (int e = 0; e < 3; e++) {
                int f = c + 6 * e;
                ShortVector y0 = ShortVector.broadcast(SV, y[f]), y1 = ShortVector.broadcast(SV, y[f + 1]);
                ShortVector y2 = ShortVector.broadcast(SV, y[f + 2]), y3 = ShortVector.broadcast(SV, y[f + 3]);
                ShortVector y4 = ShortVector.broadcast(SV, y[f + 4]), y5 = ShortVector.broadcast(SV, y[f + 5]);
                ShortVector a = ShortVector.fromMemorySegment(SV, w, o + 2L * R * e, LE);
                ShortVector q = ShortVector.fromMemorySegment(SV, w, o2 + 2L * R * e, LE);
                acc = acc.add(a.mul(y0).add(a.lanewise(LSHR, S3).mul(y1))
                        .add(a.lanewise(LSHR, S6).mul(y2).add(a.lanewise(LSHR, S9).mul(y3)))
                        .add(a.lanewise(LSHR, S12).mul(y4).add(a.lanewise(LSHR, S15).mul(y5))));
                acc2 = acc2.add(q.mul(y0).add(q.lanewise(LSHR, S3).mul(y1))
                        .add(q.lanewise(LSHR, S6).mul(y2).add(q.lanewise(LSHR, S9).mul(y3)))
                        .add(q.lanewise(LSHR, S12).mul(y4).add(q.lanewise(LSHR, S15).mul(y5))));
            }
            IntVector t = acc.add(y[c + 18]).reinterpretAsInts(), t2 = acc2.add(y[c + 18]).reinterpretAsInts();
            long sa = hdr + 2L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).mul(sc0));
            a1 = a1.add(t.lanewise(ASHR, 16).mul(sc1));
            sa = hdr2 + 2L * R + (long) R * j;
            sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            b0 = b0.add(t2.lanewise(LSHL, 16).lanewise(ASHR, 16).mul(sc0));
            b1 = b1.add(t2.lanewise(ASHR, 16).mul(sc1));
        }
        a0.intoArray(s32, 0);
        a1.intoArray(s32, H);
        b0.intoArray(s32, R);
        b1.intoArray(s32, R + H);
    }

    /**
     * The integer pass of Q2_K, one group, one input: per step of 16 columns, two vectors of eight 2-bit fields from
     * {@code at} times the telescoped activations {@code y[yo + Q2Y*t..]} ({@link ActivationCache#q2y}); the 16-bit sum
     * of step t, the exact sum of {@code u x} over its 16 columns (at most 16*3*127 in magnitude), goes to
     * {@code s[so + t*R..]}.
     */
    static void q2Sums(MemorySegment w, long at, int steps, short[] y, int yo, short[] s, int so) {
        ShortVector S2 = ShortVector.broadcast(SV, (short) 2), S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S6 = ShortVector.broadcast(SV, (short) 6), S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S10 = ShortVector.broadcast(SV, (short) 10), S12 = ShortVector.broadcast(SV, (short) 12);
        ShortVector S14 = ShortVector.broadcast(SV, (short) 14);
        for (int t = 0; t < steps; t++) {
            long o = at + 4L * R * t;
            int c = yo + Q2Y * t;
            ShortVector acc = ShortVector.zero(SV);
            for (int e = 0; e < 2; e++) {
                int f = c + 8 * e;
                ShortVector a = ShortVector.fromMemorySegment(SV, w, o + 2L * R * e, LE);
                acc = acc.add(a.mul(y[f]).add(a.lanewise(LSHR, S2).mul(y[f + 1]))
                        .add(a.lanewise(LSHR, S4).mul(y[f + 2]).add(a.lanewise(LSHR, S6).mul(y[f + 3])))
                        .add(a.lanewise(LSHR, S8).mul(y[f + 4]).add(a.lanewise(LSHR, S10).mul(y[f + 5]))
                                .add(a.lanewise(LSHR, S12).mul(y[f + 6]).add(a.lanewise(LSHR, S14).mul(y[f + 7])))));
            }
            acc.intoArray(s, so + R * t);
        }
    }

    /**
     * Q2_K, integer scale pass of one super-block: its sixteen 16-column sums ({@code s[so..so+16R)}) times the 4-bit
     * scales to {@code s32[o..o+R)}, and the 4-bit mins times the activation's sums per 16 ({@code bsum}, super-block
     * {@code xb}) to {@code s32[o+R..o+2R)}.
     */
    static void q2KScales(MemorySegment w, long hdr, short[] s, int so, int[] bsum, int xb, int[] s32, int o) {
        IntVector a0 = IntVector.zero(IV), a1 = a0, m0 = a0, m1 = a0;
        for (int j = 0; j < 16; j++) {
            int xs = bsum[16 * xb + j];
            IntVector t = ShortVector.fromArray(SV, s, so + R * j).reinterpretAsInts();
            long sa = hdr + 4L * R + (long) R * j;
            IntVector p0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector p1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).mul(p0.and(15)));
            a1 = a1.add(t.lanewise(ASHR, 16).mul(p1.and(15)));
            m0 = m0.add(p0.lanewise(ASHR, 4).and(15).mul(xs));
            m1 = m1.add(p1.lanewise(ASHR, 4).and(15).mul(xs));
        }
        a0.intoArray(s32, o);
        a1.intoArray(s32, o + H);
        m0.intoArray(s32, o + R);
        m1.intoArray(s32, o + R + H);
    }

    /**
     * Q2_K, one input, a pair of groups, one super-block: per 16 columns the integer pass of both groups (as
     * {@link #q2Sums}, sharing the broadcasts) and at once its share of the scale pass (as {@link #q2KScales}). Same
     * integer operations, same results: sums and mins at {@code s32[0..2R)} for {@code at}, {@code [2R..4R)} for
     * {@code at2}.
     */
    static void q2KFused2(MemorySegment w, long at, long at2, long hdr, long hdr2, short[] y, int yo, int[] bsum, int xb,
                          int[] s32) {
        ShortVector S2 = ShortVector.broadcast(SV, (short) 2), S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S6 = ShortVector.broadcast(SV, (short) 6), S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S10 = ShortVector.broadcast(SV, (short) 10), S12 = ShortVector.broadcast(SV, (short) 12);
        ShortVector S14 = ShortVector.broadcast(SV, (short) 14);
        IntVector a0 = IntVector.zero(IV), a1 = a0, m0 = a0, m1 = a0, b0 = a0, b1 = a0, n0 = a0, n1 = a0;
        for (int j = 0; j < 16; j++) {
            long o = at + 4L * R * j, o2 = at2 + 4L * R * j;
            ShortVector acc = ShortVector.zero(SV), acc2 = acc;
            for (int e = 0; e < 2; e++) {
                int f = yo + Q2Y * j + 8 * e;
                ShortVector y0 = ShortVector.broadcast(SV, y[f]), y1 = ShortVector.broadcast(SV, y[f + 1]);
                ShortVector y2 = ShortVector.broadcast(SV, y[f + 2]), y3 = ShortVector.broadcast(SV, y[f + 3]);
                ShortVector y4 = ShortVector.broadcast(SV, y[f + 4]), y5 = ShortVector.broadcast(SV, y[f + 5]);
                ShortVector y6 = ShortVector.broadcast(SV, y[f + 6]), y7 = ShortVector.broadcast(SV, y[f + 7]);
                ShortVector a = ShortVector.fromMemorySegment(SV, w, o + 2L * R * e, LE);
                ShortVector q = ShortVector.fromMemorySegment(SV, w, o2 + 2L * R * e, LE);
                acc = acc.add(a.mul(y0).add(a.lanewise(LSHR, S2).mul(y1))
                        .add(a.lanewise(LSHR, S4).mul(y2).add(a.lanewise(LSHR, S6).mul(y3)))
                        .add(a.lanewise(LSHR, S8).mul(y4).add(a.lanewise(LSHR, S10).mul(y5))
                                .add(a.lanewise(LSHR, S12).mul(y6).add(a.lanewise(LSHR, S14).mul(y7)))));
                acc2 = acc2.add(q.mul(y0).add(q.lanewise(LSHR, S2).mul(y1))
                        .add(q.lanewise(LSHR, S4).mul(y2).add(q.lanewise(LSHR, S6).mul(y3)))
                        .add(q.lanewise(LSHR, S8).mul(y4).add(q.lanewise(LSHR, S10).mul(y5))
                                .add(q.lanewise(LSHR, S12).mul(y6).add(q.lanewise(LSHR, S14).mul(y7)))));
            }
            int xs = bsum[16 * xb + j];
            IntVector t = acc.reinterpretAsInts(), t2 = acc2.reinterpretAsInts();
            long sa = hdr + 4L * R + (long) R * j;
            IntVector p0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector p1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).mul(p0.and(15)));
            a1 = a1.add(t.lanewise(ASHR, 16).mul(p1.and(15)));
            m0 = m0.add(p0.lanewise(ASHR, 4).and(15).mul(xs));
            m1 = m1.add(p1.lanewise(ASHR, 4).and(15).mul(xs));
            sa = hdr2 + 4L * R + (long) R * j;
            p0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            p1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            b0 = b0.add(t2.lanewise(LSHL, 16).lanewise(ASHR, 16).mul(p0.and(15)));
            b1 = b1.add(t2.lanewise(ASHR, 16).mul(p1.and(15)));
            n0 = n0.add(p0.lanewise(ASHR, 4).and(15).mul(xs));
            n1 = n1.add(p1.lanewise(ASHR, 4).and(15).mul(xs));
        }
        a0.intoArray(s32, 0);
        a1.intoArray(s32, H);
        m0.intoArray(s32, R);
        m1.intoArray(s32, R + H);
        b0.intoArray(s32, 2 * R);
        b1.intoArray(s32, 2 * R + H);
        n0.intoArray(s32, 3 * R);
        n1.intoArray(s32, 3 * R + H);
    }

    /**
     * The integer pass of Q5_K, one group, one input: per step of 16 columns, five vectors of 5-bit fields from
     * {@code at} times the telescoped activations {@code y[yo + Q5Y*t..]} ({@link ActivationCache#q5y}: twenty
     * factors, then {@code -16 * sum x}); the wrapped 16-bit sum of step t, the exact sum of {@code (u - 16) x} over its
     * 16 columns (at most 16*16*127 in magnitude), goes to {@code s[so + t*R..]}.
     */
    static void q5Sums(MemorySegment w, long at, int steps, short[] y, int yo, short[] s, int so) {
        ShortVector S5 = ShortVector.broadcast(SV, (short) 5), S10 = ShortVector.broadcast(SV, (short) 10);
        ShortVector S15 = ShortVector.broadcast(SV, (short) 15);
        for (int t = 0; t < steps; t++) {
            long o = at + 10L * R * t;
            int c = yo + Q5Y * t;
            ShortVector acc = ShortVector.zero(SV);
            for (int e = 0; e < 5; e++) {
                int f = c + 4 * e;
                ShortVector a = ShortVector.fromMemorySegment(SV, w, o + 2L * R * e, LE);
                acc = acc.add(a.mul(y[f]).add(a.lanewise(LSHR, S5).mul(y[f + 1]))
                        .add(a.lanewise(LSHR, S10).mul(y[f + 2]).add(a.lanewise(LSHR, S15).mul(y[f + 3]))));
            }
            acc.add(y[c + 20]).intoArray(s, so + R * t);
        }
    }

    /**
     * Q5_K, integer scale pass of one super-block (as {@link #q4KHalf} over both halves): per sub-block of 32 columns
     * its two 16-column sums ({@code s[so..so+16R)}) widened and added, plus {@code 16 * sum x}, times the 6-bit scale
     * to {@code s32[o..o+R)}; the 6-bit mins times the activation's sums to {@code s32[o+R..o+2R)}.
     */
    static void q5KScales(MemorySegment w, long hdr, short[] s, int so, int[] bsum, int xb, int[] s32, int o) {
        IntVector a0 = IntVector.zero(IV), a1 = a0, m0 = a0, m1 = a0;
        for (int j = 0; j < 8; j++) {
            int xs = bsum[16 * xb + 2 * j] + bsum[16 * xb + 2 * j + 1];
            IntVector t = ShortVector.fromArray(SV, s, so + 2 * R * j).reinterpretAsInts();
            IntVector u = ShortVector.fromArray(SV, s, so + 2 * R * j + R).reinterpretAsInts();
            long sa = hdr + 4L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16).add(u.lanewise(LSHL, 16).lanewise(ASHR, 16)).add(16 * xs).mul(sc0));
            a1 = a1.add(t.lanewise(ASHR, 16).add(u.lanewise(ASHR, 16)).add(16 * xs).mul(sc1));
            m0 = m0.add(mn0.mul(xs));
            m1 = m1.add(mn1.mul(xs));
        }
        a0.intoArray(s32, o);
        a1.intoArray(s32, o + H);
        m0.intoArray(s32, o + R);
        m1.intoArray(s32, o + R + H);
    }

    /**
     * Q5_K, one input, a pair of groups, one super-block: per sub-block of 32 columns the integer pass of its two
     * 16-column steps for both groups (as {@link #q5Sums}, sharing the broadcasts) and at once its share of the scale
     * pass (as {@link #q5KScales}). Same integer operations, same results: sums and mins at {@code s32[0..2R)} for
     * {@code at}, {@code [2R..4R)} for {@code at2}.
     */
    static void q5KFused2(MemorySegment w, long at, long at2, long hdr, long hdr2, short[] y, int yo, int[] bsum, int xb,
                          int[] s32) {
        ShortVector S5 = ShortVector.broadcast(SV, (short) 5), S10 = ShortVector.broadcast(SV, (short) 10);
        ShortVector S15 = ShortVector.broadcast(SV, (short) 15);
        IntVector a0 = IntVector.zero(IV), a1 = a0, m0 = a0, m1 = a0, b0 = a0, b1 = a0, n0 = a0, n1 = a0;
        for (int j = 0; j < 8; j++) {
            IntVector lo = IntVector.zero(IV), hi = lo, lo2 = lo, hi2 = lo;
            for (int h = 0; h < 2; h++) {
                long o = at + 10L * R * (2 * j + h), o2 = at2 + 10L * R * (2 * j + h);
                int c = yo + Q5Y * (2 * j + h);
                ShortVector acc = ShortVector.zero(SV), acc2 = acc;
                for (int e = 0; e < 5; e++) {
                    int f = c + 4 * e;
                    ShortVector y0 = ShortVector.broadcast(SV, y[f]), y1 = ShortVector.broadcast(SV, y[f + 1]);
                    ShortVector y2 = ShortVector.broadcast(SV, y[f + 2]), y3 = ShortVector.broadcast(SV, y[f + 3]);
                    ShortVector a = ShortVector.fromMemorySegment(SV, w, o + 2L * R * e, LE);
                    ShortVector q = ShortVector.fromMemorySegment(SV, w, o2 + 2L * R * e, LE);
                    acc = acc.add(a.mul(y0).add(a.lanewise(LSHR, S5).mul(y1))
                            .add(a.lanewise(LSHR, S10).mul(y2).add(a.lanewise(LSHR, S15).mul(y3))));
                    acc2 = acc2.add(q.mul(y0).add(q.lanewise(LSHR, S5).mul(y1))
                            .add(q.lanewise(LSHR, S10).mul(y2).add(q.lanewise(LSHR, S15).mul(y3))));
                }
                IntVector t = acc.add(y[c + 20]).reinterpretAsInts(), t2 = acc2.add(y[c + 20]).reinterpretAsInts();
                lo = lo.add(t.lanewise(LSHL, 16).lanewise(ASHR, 16));
                hi = hi.add(t.lanewise(ASHR, 16));
                lo2 = lo2.add(t2.lanewise(LSHL, 16).lanewise(ASHR, 16));
                hi2 = hi2.add(t2.lanewise(ASHR, 16));
            }
            int xs = bsum[16 * xb + 2 * j] + bsum[16 * xb + 2 * j + 1];
            long sa = hdr + 4L * R + (long) R * j;
            IntVector sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R, LE).convertShape(VectorOperators.B2I, IV, 0);
            IntVector mn1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            a0 = a0.add(lo.add(16 * xs).mul(sc0));
            a1 = a1.add(hi.add(16 * xs).mul(sc1));
            m0 = m0.add(mn0.mul(xs));
            m1 = m1.add(mn1.mul(xs));
            sa = hdr2 + 4L * R + (long) R * j;
            sc0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa, LE).convertShape(VectorOperators.B2I, IV, 0);
            sc1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            mn0 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R, LE).convertShape(VectorOperators.B2I, IV, 0);
            mn1 = (IntVector) ByteVector.fromMemorySegment(BH, w, sa + 8L * R + H, LE).convertShape(VectorOperators.B2I, IV, 0);
            b0 = b0.add(lo2.add(16 * xs).mul(sc0));
            b1 = b1.add(hi2.add(16 * xs).mul(sc1));
            n0 = n0.add(mn0.mul(xs));
            n1 = n1.add(mn1.mul(xs));
        }
        a0.intoArray(s32, 0);
        a1.intoArray(s32, H);
        m0.intoArray(s32, R);
        m1.intoArray(s32, R + H);
        b0.intoArray(s32, 2 * R);
        b1.intoArray(s32, 2 * R + H);
        n0.intoArray(s32, 3 * R);
        n1.intoArray(s32, 3 * R + H);
    }

    /**
     * Q5_0 and Q5_1, one input, a pair of groups, {@code blocks} blocks of 32 columns: per block the integer pass of its
     * two 16-column steps for both groups (as {@link #q5Sums}, sharing the broadcasts) and at once its float step (as
     * {@link #legacyFloats} with {@code two}): same operations, same results; {@code acc[ao..]} for {@code at},
     * {@code acc[bo..]} for {@code at2}, mins ({@code fm}, {@code fmb}) null for Q5_0.
     */
    static void q5BlockFused2(MemorySegment w, long at, long at2, int blocks, short[] y, int yo, int[] xsum, int xb,
                              int intOff, float[] fs, float[] fsb, float[] fm, float[] fmb, float[] xd, float[] acc,
                              int ao, int bo) {
        ShortVector S5 = ShortVector.broadcast(SV, (short) 5), S10 = ShortVector.broadcast(SV, (short) 10);
        ShortVector S15 = ShortVector.broadcast(SV, (short) 15);
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        FloatVector g0 = FloatVector.fromArray(FV, acc, bo), g1 = FloatVector.fromArray(FV, acc, bo + H);
        for (int b = 0; b < blocks; b++) {
            IntVector lo = IntVector.zero(IV), hi = lo, lo2 = lo, hi2 = lo;
            for (int h = 0; h < 2; h++) {
                long o = at + 10L * R * (2 * b + h), o2 = at2 + 10L * R * (2 * b + h);
                int c = yo + Q5Y * (2 * b + h);
                ShortVector acc1 = ShortVector.zero(SV), acc2 = acc1;
                for (int e = 0; e < 5; e++) {
                    int f = c + 4 * e;
                    ShortVector y0 = ShortVector.broadcast(SV, y[f]), y1 = ShortVector.broadcast(SV, y[f + 1]);
                    ShortVector y2 = ShortVector.broadcast(SV, y[f + 2]), y3 = ShortVector.broadcast(SV, y[f + 3]);
                    ShortVector a = ShortVector.fromMemorySegment(SV, w, o + 2L * R * e, LE);
                    ShortVector q = ShortVector.fromMemorySegment(SV, w, o2 + 2L * R * e, LE);
                    acc1 = acc1.add(a.mul(y0).add(a.lanewise(LSHR, S5).mul(y1))
                            .add(a.lanewise(LSHR, S10).mul(y2).add(a.lanewise(LSHR, S15).mul(y3))));
                    acc2 = acc2.add(q.mul(y0).add(q.lanewise(LSHR, S5).mul(y1))
                            .add(q.lanewise(LSHR, S10).mul(y2).add(q.lanewise(LSHR, S15).mul(y3))));
                }
                IntVector t = acc1.add(y[c + 20]).reinterpretAsInts(), t2 = acc2.add(y[c + 20]).reinterpretAsInts();
                lo = lo.add(t.lanewise(LSHL, SIXTEEN).lanewise(ASHR, SIXTEEN));
                hi = hi.add(t.lanewise(ASHR, SIXTEEN));
                lo2 = lo2.add(t2.lanewise(LSHL, SIXTEEN).lanewise(ASHR, SIXTEEN));
                hi2 = hi2.add(t2.lanewise(ASHR, SIXTEEN));
            }
            int xs = xsum[xb + b];
            float dx = xd[xb + b];
            FloatVector dv = FloatVector.broadcast(FV, dx);
            f0 = ((FloatVector) lo.add(intOff * xs).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, fs, R * b).mul(dv), f0);
            f1 = ((FloatVector) hi.add(intOff * xs).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, fs, R * b + H).mul(dv), f1);
            g0 = ((FloatVector) lo2.add(intOff * xs).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, fsb, R * b).mul(dv), g0);
            g1 = ((FloatVector) hi2.add(intOff * xs).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, fsb, R * b + H).mul(dv), g1);
            if (fm != null) {
                FloatVector mx = FloatVector.broadcast(FV, xs * dx);
                f0 = FloatVector.fromArray(FV, fm, R * b).fma(mx, f0);
                f1 = FloatVector.fromArray(FV, fm, R * b + H).fma(mx, f1);
                g0 = FloatVector.fromArray(FV, fmb, R * b).fma(mx, g0);
                g1 = FloatVector.fromArray(FV, fmb, R * b + H).fma(mx, g1);
            }
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
        g0.intoArray(acc, bo);
        g1.intoArray(acc, bo + H);
    }

    /**
     * Q4_1, one input, a pair of groups: {@link #q4_0Fused2}'s integer pass and, per block, the float step of
     * {@link #legacyFloats} (the sum made exact with {@code 8 * sum x}, then the min times the activation's sum).
     * Same operations, same results.
     */
    static void q4_1Fused2(MemorySegment w, long at, long at2, int blocks, short[] y, int yo, int[] xsum, float[] fs,
                           float[] fsb, float[] fm, float[] fmb, float[] xd, float[] acc, int ao, int bo) {
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        FloatVector g0 = FloatVector.fromArray(FV, acc, bo), g1 = FloatVector.fromArray(FV, acc, bo + H);
        int xb = yo / 32;
        for (int b = 0; b < blocks; b++) {
            ShortVector s1 = ShortVector.zero(SV), s2 = ShortVector.zero(SV);
            for (int t = 0; t < 8; t++) {
                long d = 16L * R * b + 2L * R * t;
                int c = yo + 32 * b + 4 * t;
                ShortVector v = ShortVector.fromMemorySegment(SV, w, at + d, LE);
                ShortVector v2 = ShortVector.fromMemorySegment(SV, w, at2 + d, LE);
                ShortVector y0 = ShortVector.broadcast(SV, y[c]), y1 = ShortVector.broadcast(SV, y[c + 1]);
                ShortVector y2 = ShortVector.broadcast(SV, y[c + 2]), y3 = ShortVector.broadcast(SV, y[c + 3]);
                s1 = s1.add(v.mul(y0).add(v.lanewise(LSHR, S4).mul(y1))
                        .add(v.lanewise(LSHR, S8).mul(y2).add(v.lanewise(LSHR, S12).mul(y3))));
                s2 = s2.add(v2.mul(y0).add(v2.lanewise(LSHR, S4).mul(y1))
                        .add(v2.lanewise(LSHR, S8).mul(y2).add(v2.lanewise(LSHR, S12).mul(y3))));
            }
            int xs = xsum[xb + b];
            float dx = xd[xb + b];
            FloatVector dv = FloatVector.broadcast(FV, dx), mx = FloatVector.broadcast(FV, xs * dx);
            IntVector t = s1.sub((short) (8 * xs)).reinterpretAsInts();
            IntVector lo = t.lanewise(LSHL, SIXTEEN).lanewise(ASHR, SIXTEEN).add(8 * xs), hi = t.lanewise(ASHR, SIXTEEN).add(8 * xs);
            f0 = ((FloatVector) lo.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, fs, R * b).mul(dv), f0);
            f1 = ((FloatVector) hi.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, fs, R * b + H).mul(dv), f1);
            f0 = FloatVector.fromArray(FV, fm, R * b).fma(mx, f0);
            f1 = FloatVector.fromArray(FV, fm, R * b + H).fma(mx, f1);
            t = s2.sub((short) (8 * xs)).reinterpretAsInts();
            lo = t.lanewise(LSHL, SIXTEEN).lanewise(ASHR, SIXTEEN).add(8 * xs);
            hi = t.lanewise(ASHR, SIXTEEN).add(8 * xs);
            g0 = ((FloatVector) lo.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, fsb, R * b).mul(dv), g0);
            g1 = ((FloatVector) hi.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(FV, fsb, R * b + H).mul(dv), g1);
            g0 = FloatVector.fromArray(FV, fmb, R * b).fma(mx, g0);
            g1 = FloatVector.fromArray(FV, fmb, R * b + H).fma(mx, g1);
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
        g0.intoArray(acc, bo);
        g1.intoArray(acc, bo + H);
    }
}
