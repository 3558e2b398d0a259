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
 * <p>Each group of R rows is processed in column chunks of {@link #CHUNK} in two passes per input:
 * <ol>
 *   <li>an integer pass: one vector load brings 4 (nibbles) or 1 (bytes) columns of all R rows; each column is
 *       multiplied by its activation (an int8 value broadcast to R shorts) and added, in 16-bit lanes. Sums are
 *       stored per 8 (or 4) columns into a small scratch array in L1;</li>
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
 * even though the intermediate 16-bit sums wrap. Q6_K's 2-bit high fields use the same identity with
 * {@code z_k = 16 x_k - 64 x_(k-1)}, and its sums are closed every 8 columns (8*32*127 fits). Q8_0 runs on floats
 * instead (exact: see {@link #floatSumsQ8_0}).
 *
 * <p>Cost model (AVX-512, R = 32, per 4 columns x 32 rows = 128 weights): Q4_0/Q4_K one load, 3 shifts, 4
 * broadcasts, 4 short multiplies, 4 adds; Q6_K adds half a load, 3.5 shifts, 4 broadcasts, 4 multiplies and 4
 * adds; Q8_0 (per 4 columns, see {@link #floatSumsQ8_0}) 8 widening loads, 8 conversions and 8 FMAs.
 * The scale pass costs about 15 vector ops per block of 32 columns x 32 rows.
 */
final class InterleavedKernels {

    static final int R = Repacked.R;
    static final int H = R / 2;
    /** Columns per pass: the 16-bit sums of one chunk (CHUNK/8 x R shorts, 8 KiB) stay in L1. */
    static final int CHUNK = 1024;

    static final VectorSpecies<Short> SV = VectorSpecies.of(short.class, VectorKernels.FS.vectorShape());
    static final VectorSpecies<Integer> IV = VectorKernels.IS;
    static final VectorSpecies<Float> FV = VectorKernels.FS;
    /** R/2 bytes (per-row scales of half a group), widened to R/2 ints. */
    static final VectorSpecies<Byte> BH = VectorKernels.BS;

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Shift count as a vector (see the class comment on shifts). */
    private static final IntVector SIXTEEN = IntVector.broadcast(IV, 16);

    private InterleavedKernels() {
    }

    /** Per-thread scratch: 16-bit and 32-bit partial sums of one chunk, float accumulators of two groups. */
    static final class Scratch {
        final short[] s16 = new short[CHUNK / 8 * R];
        final short[] s16b = new short[CHUNK / 8 * R];
        final int[] s32 = new int[CHUNK / 256 * 2 * R];
        final float[] f32 = new float[CHUNK / 32 * R];
        float[] acc = new float[2 * R];
        /** A heap copy of one weight row, and its unpacked values, for the row-major kernels. */
        byte[] row = new byte[0];
        short[] unpacked = new short[0];
    }

    /**
     * {@code out[i*rows + r]} for the rows of groups {@code [g0, g1)} and inputs {@code i < n}. Groups go in pairs
     * where the kernel shares the activation broadcasts between two groups (Q4_0, Q4_K, Q6_K).
     */
    static void run(Repacked p, int g0, int g1, ActivationCache a, int n, float[] out, Scratch sc) {
        int cols = p.cols, rows = p.rows;
        GgmlType type = p.type;
        long gb = p.groupBytes;
        if (sc.acc.length < 2 * n * R) sc.acc = new float[2 * n * R];
        float[] acc = sc.acc;
        MemorySegment w = p.data;
        int step = type == GgmlType.Q8_0 ? 1 : 2;
        for (int g = g0; g < g1; g += step) {
            boolean pair = step == 2 && g + 1 < g1;
            long base = g * gb;
            Arrays.fill(acc, 0, 2 * n * R, 0f);
            for (int c0 = 0; c0 < cols; c0 += CHUNK) {
                int cw = Math.min(CHUNK, cols - c0);
                for (int i = 0; i < n; i++) {
                    int xo = i * cols + c0;
                    int a1 = i * R, a2 = (n + i) * R;
                    switch (type) {
                        case Q4_0 -> {
                            long hdr = base + 2L * R * (c0 / 32);
                            long v = base + 2L * R * (cols / 32) + 16L * R * (c0 / 32);
                            if (pair) {
                                nibbleSums2(w, v, v + gb, cw / 8, a.q8y, xo, sc.s16, sc.s16b);
                                scaleQ4_0(w, hdr + gb, cw / 32, sc.s16b, a.q8sum, a.q8d, xo / 32, acc, a2);
                            } else {
                                nibbleSums(w, v, cw / 8, a.q8y, xo, sc.s16);
                            }
                            scaleQ4_0(w, hdr, cw / 32, sc.s16, a.q8sum, a.q8d, xo / 32, acc, a1);
                        }
                        case Q8_0 -> {
                            int nb = cols / 32;
                            floatSumsQ8_0(w, base + 2L * R * nb + 32L * R * (c0 / 32), cw / 32, a.q8f, xo, sc.f32);
                            scaleQ8_0(w, base + 2L * R * (c0 / 32), cw / 32, sc.f32, a.q8d, xo / 32, acc, a1);
                        }
                        case Q4_K -> {
                            long hdr = base + 20L * R * (c0 / 256);
                            long v = base + 20L * R * (cols / 256) + 128L * R * (c0 / 256);
                            if (pair) {
                                nibbleSums2(w, v, v + gb, cw / 8, a.qky, xo, sc.s16, sc.s16b);
                                q4KInts(w, hdr + gb, cw / 256, sc.s16b, a.qkSum, xo / 256, sc.s32);
                                q4KFloats(w, hdr + gb, cw / 256, sc.s32, a.qkd, xo / 256, acc, a2);
                            } else {
                                nibbleSums(w, v, cw / 8, a.qky, xo, sc.s16);
                            }
                            q4KInts(w, hdr, cw / 256, sc.s16, a.qkSum, xo / 256, sc.s32);
                            q4KFloats(w, hdr, cw / 256, sc.s32, a.qkd, xo / 256, acc, a1);
                        }
                        case Q6_K -> {
                            int ns = cols / 256;
                            long hdr = base + 18L * R * (c0 / 256);
                            long lo = base + 18L * R * ns + 128L * R * (c0 / 256);
                            long hi = base + 146L * R * ns + 64L * R * (c0 / 256);
                            if (pair) {
                                nibbleSums2(w, lo, lo + gb, cw / 8, a.qky, xo, sc.s16, sc.s16b);
                                q6HighSums(w, hi + gb, cw / 8, a.qkz, a.qkSum8, xo, sc.s16b);
                                scaleQ6_K(w, hdr + gb, cw / 256, sc.s16b, a.qkd, xo / 256, acc, a2);
                            } else {
                                nibbleSums(w, lo, cw / 8, a.qky, xo, sc.s16);
                            }
                            q6HighSums(w, hi, cw / 8, a.qkz, a.qkSum8, xo, sc.s16);
                            scaleQ6_K(w, hdr, cw / 256, sc.s16, a.qkd, xo / 256, acc, a1);
                        }
                        default -> throw new IllegalArgumentException(type + " has no interleaved kernel");
                    }
                }
            }
            for (int k = 0; k < (pair ? 2 : 1); k++) {
                int r0 = (g + k) * R;
                int valid = Math.min(R, rows - r0);
                for (int i = 0; i < n; i++) System.arraycopy(acc, (k * n + i) * R, out, i * rows + r0, valid);
            }
        }
    }

    // ---- integer passes ----

    /**
     * Sums over 8 columns per step of nibble vectors (two per step, 2R bytes each, from {@code at}) times the
     * telescoped activations {@code y[yo..]}; the wrapped 16-bit sum of step t goes to {@code s[t*R..]}.
     */
    static void nibbleSums(MemorySegment w, long at, int steps, short[] y, int yo, short[] s) {
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        for (int t = 0; t < steps; t++) {
            long o = at + 4L * R * t;
            int c = yo + 8 * t;
            ShortVector v = ShortVector.fromMemorySegment(SV, w, o, LE);
            ShortVector u = ShortVector.fromMemorySegment(SV, w, o + 2L * R, LE);
            ShortVector acc = v.mul(y[c])
                    .add(v.lanewise(LSHR, S4).mul(y[c + 1]))
                    .add(v.lanewise(LSHR, S8).mul(y[c + 2]))
                    .add(v.lanewise(LSHR, S12).mul(y[c + 3]))
                    .add(u.mul(y[c + 4]))
                    .add(u.lanewise(LSHR, S4).mul(y[c + 5]))
                    .add(u.lanewise(LSHR, S8).mul(y[c + 6]))
                    .add(u.lanewise(LSHR, S12).mul(y[c + 7]));
            acc.intoArray(s, R * t);
        }
    }

    /** {@link #nibbleSums} for two groups at once (at {@code at} and {@code at2}), sharing the activation broadcasts. */
    static void nibbleSums2(MemorySegment w, long at, long at2, int steps, short[] y, int yo, short[] s, short[] s2) {
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        for (int t = 0; t < steps; t++) {
            long o = at + 4L * R * t, o2 = at2 + 4L * R * t;
            int c = yo + 8 * t;
            ShortVector v = ShortVector.fromMemorySegment(SV, w, o, LE);
            ShortVector u = ShortVector.fromMemorySegment(SV, w, o + 2L * R, LE);
            ShortVector v2 = ShortVector.fromMemorySegment(SV, w, o2, LE);
            ShortVector u2 = ShortVector.fromMemorySegment(SV, w, o2 + 2L * R, LE);
            ShortVector y0 = ShortVector.broadcast(SV, y[c]), y1 = ShortVector.broadcast(SV, y[c + 1]);
            ShortVector y2 = ShortVector.broadcast(SV, y[c + 2]), y3 = ShortVector.broadcast(SV, y[c + 3]);
            ShortVector acc = v.mul(y0).add(v.lanewise(LSHR, S4).mul(y1))
                    .add(v.lanewise(LSHR, S8).mul(y2)).add(v.lanewise(LSHR, S12).mul(y3));
            ShortVector acc2 = v2.mul(y0).add(v2.lanewise(LSHR, S4).mul(y1))
                    .add(v2.lanewise(LSHR, S8).mul(y2)).add(v2.lanewise(LSHR, S12).mul(y3));
            y0 = ShortVector.broadcast(SV, y[c + 4]);
            y1 = ShortVector.broadcast(SV, y[c + 5]);
            y2 = ShortVector.broadcast(SV, y[c + 6]);
            y3 = ShortVector.broadcast(SV, y[c + 7]);
            acc = acc.add(u.mul(y0)).add(u.lanewise(LSHR, S4).mul(y1))
                    .add(u.lanewise(LSHR, S8).mul(y2)).add(u.lanewise(LSHR, S12).mul(y3));
            acc2 = acc2.add(u2.mul(y0)).add(u2.lanewise(LSHR, S4).mul(y1))
                    .add(u2.lanewise(LSHR, S8).mul(y2)).add(u2.lanewise(LSHR, S12).mul(y3));
            acc.intoArray(s, R * t);
            acc2.intoArray(s2, R * t);
        }
    }

    /**
     * Adds Q6_K's high 2-bit fields (one vector of 8 columns per step, from {@code at}) times {@code z} to the
     * nibble sums in {@code s}, and subtracts {@code 32 * sum(x)} per 8 columns: the result is the exact sum of
     * {@code (q - 32) * x} over each 8 columns.
     */
    static void q6HighSums(MemorySegment w, long at, int steps, short[] z, int[] sum8, int zo, short[] s) {
        ShortVector S2 = ShortVector.broadcast(SV, (short) 2);
        ShortVector S4 = ShortVector.broadcast(SV, (short) 4);
        ShortVector S6 = ShortVector.broadcast(SV, (short) 6);
        ShortVector S8 = ShortVector.broadcast(SV, (short) 8);
        ShortVector S10 = ShortVector.broadcast(SV, (short) 10);
        ShortVector S12 = ShortVector.broadcast(SV, (short) 12);
        ShortVector S14 = ShortVector.broadcast(SV, (short) 14);
        for (int t = 0; t < steps; t++) {
            int c = zo + 8 * t;
            ShortVector h = ShortVector.fromMemorySegment(SV, w, at + 2L * R * t, LE);
            ShortVector acc = ShortVector.fromArray(SV, s, R * t).sub((short) (32 * sum8[c / 8]))
                    .add(h.mul(z[c]))
                    .add(h.lanewise(LSHR, S2).mul(z[c + 1]))
                    .add(h.lanewise(LSHR, S4).mul(z[c + 2]))
                    .add(h.lanewise(LSHR, S6).mul(z[c + 3]))
                    .add(h.lanewise(LSHR, S8).mul(z[c + 4]))
                    .add(h.lanewise(LSHR, S10).mul(z[c + 5]))
                    .add(h.lanewise(LSHR, S12).mul(z[c + 6]))
                    .add(h.lanewise(LSHR, S14).mul(z[c + 7]));
            acc.intoArray(s, R * t);
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
                f0 = bytesToFloat(w, o + (long) R * e).fma(xe, f0);
                f1 = bytesToFloat(w, o + (long) R * e + H).fma(xe, f1);
                g0 = bytesToFloat(w, o + (long) R * e + R).fma(xf, g0);
                g1 = bytesToFloat(w, o + (long) R * e + R + H).fma(xf, g1);
            }
            f0.add(g0).intoArray(s, R * b);
            f1.add(g1).intoArray(s, R * b + H);
        }
    }

    /** R/2 int8 at {@code o} as floats. */
    private static FloatVector bytesToFloat(MemorySegment w, long o) {
        return (FloatVector) ByteVector.fromMemorySegment(BH, w, o, LE).convertShape(VectorOperators.B2F, FV, 0);
    }


    // ---- scale passes ----

    /** The even (rows 0..R/2-1) 16-bit lanes of {@code v} as sign-extended ints. */
    private static IntVector low(ShortVector v) {
        return v.reinterpretAsInts().lanewise(LSHL, 16).lanewise(ASHR, 16);
    }

    /** The odd (rows R/2..R-1) 16-bit lanes of {@code v} as sign-extended ints. */
    private static IntVector high(ShortVector v) {
        return v.reinterpretAsInts().lanewise(ASHR, 16);
    }

    private static FloatVector toFloat(IntVector v) {
        return (FloatVector) v.convert(VectorOperators.I2F, 0);
    }

    /**
     * Finite f16 bits (zero-extended in ints) to floats: the exponent is rebiased by a multiply, which also gets
     * subnormals right. {@link Repacked} refuses tensors with infinite or NaN scales, so none reach here.
     */
    static FloatVector half(IntVector h) {
        FloatVector f = ((FloatVector) h.and(0x7FFF).lanewise(LSHL, 13).reinterpretAsFloats()).mul(0x1p112f);
        return (FloatVector) f.reinterpretAsInts().or(h.and(0x8000).lanewise(LSHL, 16)).reinterpretAsFloats();
    }

    /** Per-row f16 values of R lanes at {@code o}: rows 0..R/2-1. */
    private static FloatVector halfLow(MemorySegment w, long o) {
        return half(ShortVector.fromMemorySegment(SV, w, o, LE).reinterpretAsInts().and(0xFFFF));
    }

    /** Per-row f16 values of R lanes at {@code o}: rows R/2..R-1. */
    private static FloatVector halfHigh(MemorySegment w, long o) {
        return half(ShortVector.fromMemorySegment(SV, w, o, LE).reinterpretAsInts().lanewise(LSHR, 16));
    }

    /** R/2 int8 at {@code o} as ints. */
    private static IntVector bytes(MemorySegment w, long o) {
        return (IntVector) ByteVector.fromMemorySegment(BH, w, o, LE).convertShape(VectorOperators.B2I, IV, 0);
    }

    static void scaleQ4_0(MemorySegment w, long hdr, int nb, short[] s, int[] xsum, float[] xd, int xb, float[] acc, int ao) {
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        for (int b = 0; b < nb; b++) {
            int k = 4 * R * b;
            ShortVector t = ShortVector.fromArray(SV, s, k).add(ShortVector.fromArray(SV, s, k + R))
                    .add(ShortVector.fromArray(SV, s, k + 2 * R)).add(ShortVector.fromArray(SV, s, k + 3 * R))
                    .sub((short) (8 * xsum[xb + b]));
            long o = hdr + 2L * R * b;
            FloatVector d = FloatVector.broadcast(FV, xd[xb + b]);
            f0 = toFloat(low(t)).fma(halfLow(w, o).mul(d), f0);
            f1 = toFloat(high(t)).fma(halfHigh(w, o).mul(d), f1);
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
    }

    static void scaleQ8_0(MemorySegment w, long hdr, int nb, float[] s, float[] xd, int xb, float[] acc, int ao) {
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        for (int b = 0; b < nb; b++) {
            long o = hdr + 2L * R * b;
            FloatVector d = FloatVector.broadcast(FV, xd[xb + b]);
            f0 = FloatVector.fromArray(FV, s, R * b).fma(halfLow(w, o).mul(d), f0);
            f1 = FloatVector.fromArray(FV, s, R * b + H).fma(halfHigh(w, o).mul(d), f1);
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
    }

    /**
     * Q4_K, integer half of the scale pass: per super-block, sum over its 8 sub-blocks of scale x (sum of q x) and
     * of min x (sum of x), per row, into {@code s32[2R*sb..]} (sums: rows 0..R/2-1 then the rest; then the mins).
     */
    static void q4KInts(MemorySegment w, long hdr, int ns, short[] s, int[] bsum, int xb, int[] s32) {
        for (int sb = 0; sb < ns; sb++) {
            long o = hdr + 20L * R * sb;
            IntVector a0 = IntVector.zero(IV), a1 = IntVector.zero(IV), m0 = IntVector.zero(IV), m1 = IntVector.zero(IV);
            for (int j = 0; j < 8; j++) {
                int k = 4 * R * (8 * sb + j);
                int xs = bsum[16 * (xb + sb) + 2 * j] + bsum[16 * (xb + sb) + 2 * j + 1];
                ShortVector t = ShortVector.fromArray(SV, s, k).add(ShortVector.fromArray(SV, s, k + R))
                        .add(ShortVector.fromArray(SV, s, k + 2 * R)).add(ShortVector.fromArray(SV, s, k + 3 * R))
                        .sub((short) (8 * xs));
                // t = sum (q - 8) x exactly; sum q x = t + 8 * sum x.
                long so = o + 4L * R + (long) R * j;
                a0 = a0.add(low(t).add(8 * xs).mul(bytes(w, so)));
                a1 = a1.add(high(t).add(8 * xs).mul(bytes(w, so + H)));
                m0 = m0.add(bytes(w, so + 8L * R).mul(xs));
                m1 = m1.add(bytes(w, so + 8L * R + H).mul(xs));
            }
            a0.intoArray(s32, 2 * R * sb);
            a1.intoArray(s32, 2 * R * sb + H);
            m0.intoArray(s32, 2 * R * sb + R);
            m1.intoArray(s32, 2 * R * sb + R + H);
        }
    }

    /** Q4_K, float half of the scale pass: {@code acc += d_x * (d * sums - dmin * mins)} per super-block. */
    static void q4KFloats(MemorySegment w, long hdr, int ns, int[] s32, float[] xd, int xb, float[] acc, int ao) {
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        for (int sb = 0; sb < ns; sb++) {
            long o = hdr + 20L * R * sb;
            int k = 2 * R * sb;
            FloatVector d = FloatVector.broadcast(FV, xd[xb + sb]);
            // As ggml: d = d_x * d_w, dmin = d_x * dmin_w; acc += d * sums - dmin * mins.
            FloatVector v0 = toFloat(IntVector.fromArray(IV, s32, k)).mul(halfLow(w, o).mul(d))
                    .sub(toFloat(IntVector.fromArray(IV, s32, k + R)).mul(halfLow(w, o + 2L * R).mul(d)));
            FloatVector v1 = toFloat(IntVector.fromArray(IV, s32, k + H)).mul(halfHigh(w, o).mul(d))
                    .sub(toFloat(IntVector.fromArray(IV, s32, k + R + H)).mul(halfHigh(w, o + 2L * R).mul(d)));
            f0 = f0.add(v0);
            f1 = f1.add(v1);
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
    }

    static void scaleQ6_K(MemorySegment w, long hdr, int ns, short[] s, float[] xd, int xb, float[] acc, int ao) {
        FloatVector f0 = FloatVector.fromArray(FV, acc, ao), f1 = FloatVector.fromArray(FV, acc, ao + H);
        for (int sb = 0; sb < ns; sb++) {
            long o = hdr + 18L * R * sb;
            IntVector a0 = IntVector.zero(IV), a1 = IntVector.zero(IV);
            for (int j = 0; j < 16; j++) {
                int k = 2 * R * (16 * sb + j);
                ShortVector t = ShortVector.fromArray(SV, s, k), u = ShortVector.fromArray(SV, s, k + R);
                long so = o + 2L * R + (long) R * j;
                a0 = a0.add(low(t).add(low(u)).mul(bytes(w, so)));
                a1 = a1.add(high(t).add(high(u)).mul(bytes(w, so + H)));
            }
            FloatVector d = FloatVector.broadcast(FV, xd[xb + sb]);
            f0 = toFloat(a0).fma(halfLow(w, o).mul(d), f0);
            f1 = toFloat(a1).fma(halfHigh(w, o).mul(d), f1);
        }
        f0.intoArray(acc, ao);
        f1.intoArray(acc, ao + H);
    }
}
