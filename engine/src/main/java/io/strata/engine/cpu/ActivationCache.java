package io.strata.engine.cpu;

import io.strata.engine.tensor.GgmlType;

/**
 * The quantized forms of one activation buffer, made once and shared by the matrix products that read the same
 * input (q/k/v, gate/up). The owner calls {@link #invalidate()} whenever the buffer is written.
 *
 * <p>As in llama.cpp, weights are not dotted with the f32 activations themselves but with the activations converted
 * to the weight type's "vec_dot type": F16 and BF16 weights with activations rounded to F16 / BF16, quantized weights
 * with activations quantized per block: Q8_0 blocks of 32 (for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights) and Q8_K blocks of 256 (for the K-quants).
 * Each form is held as plain arrays: the int8 values widened to shorts (what the vector kernels multiply), one f32
 * scale per block, and per-block sums of the int8 values
 * (Q8_0: per 32, used by the weight types with an offset or a min; Q8_K: per 16, ggml's {@code bsums}).
 * The arrays grow to the largest input seen and are then reused: no allocation in steady state.
 */
public final class ActivationCache {

    // Q8_0 form: n*cols values, one scale and one sum per 32.
    boolean q8Valid;
    int q8N;
    int q8Cols;
    short[] q8 = new short[0];
    float[] q8d = new float[0];
    int[] q8sum = new int[0];

    // Q8_K form: n*cols values, one scale per 256, one sum per 16.
    boolean kValid;
    int kN;
    int kCols;
    short[] qk = new short[0];
    float[] qkd = new float[0];
    int[] qkSum = new int[0];

    // "Telescoped" copies for the interleaved kernels (see InterleavedKernels): per 4 columns
    // y = (x0, x1 - 16 x0, x2 - 16 x1, x3 - 16 x2); for Q6_K, per 8 columns, see q6y.
    /** Which forms of the Q8_0 values are made for the current input (bits: see {@link #telescopeQ8_0}). */
    int q8Forms;
    short[] q8y = new short[0];
    /** The Q8_0 values as floats (for the float interleaved Q8_0 kernel). */
    float[] q8f = new float[0];
    /** {@link #q5y}'s form of the Q8_0 values, for Q5_0 and Q5_1. */
    short[] q5y8 = new short[0];
    /** Which telescoped forms of the Q8_K values are made for the current input: bit {@code 1 << type.ordinal()}. */
    int kForms;
    short[] qky = new short[0];
    /**
     * For Q6_K's three 16-bit lanes per 8 columns ({@code A = q0 | q1<<6 | lo(q6)<<12}, {@code B = q2 | q3<<6 |
     * lo(q7)<<12}, {@code C = q4 | q5<<6 | hi(q6)<<12 | hi(q7)<<14}; see {@link Repacked}), {@link #Q6Y} shorts per 8
     * columns: the factors of {@code A, A>>>6, A>>>12} ({@code x0, x1 - 64 x0, x6 - 64 x1}), of B's
     * ({@code x2, x3 - 64 x2, x7 - 64 x3}), of {@code C, C>>>6, C>>>12, C>>>14} ({@code x4, x5 - 64 x4,
     * 16 x6 - 64 x5, 16 x7 - 64 x6}), then {@code -32 * sum x} (the offset of the values), then a pad; all modulo 2^16.
     */
    short[] q6y = new short[0];
    static final int Q6Y = 12;
    /**
     * For Q3_K's three 16-bit lanes per 16 columns ({@code A = u0 | u1<<3 | ... | u4<<12 | bit0(u15)<<15}, B for
     * u5..u9 and bit 1 of u15, C for u10..u14 and bit 2; see {@link Repacked}), {@link #Q3Y} shorts per 16 columns: the
     * factors of {@code A, A>>>3, ..., A>>>15} ({@code x0, x1 - 8 x0, ..., x4 - 8 x3, x15 - 8 x4}), of B's ({@code x5,
     * ..., x9 - 8 x8, 2 x15 - 8 x9}), of C's ({@code x10, ..., x14 - 8 x13, 4 x15 - 8 x14}), then {@code -4 * sum x}
     * (the offset of the values), then a pad; all modulo 2^16.
     */
    short[] q3y = new short[0];
    static final int Q3Y = 20;
    /**
     * For Q2_K's two lanes of eight 2-bit values per 16 columns, {@link #Q2Y} shorts per 16 columns: per lane
     * {@code x(8e), x(8e+1) - 4 x(8e), ..., x(8e+7) - 4 x(8e+6)}; modulo 2^16.
     */
    short[] q2y = new short[0];
    static final int Q2Y = 16;
    /**
     * For Q5_K's five lanes per 16 columns (lane e: {@code u(3e) | u(3e+1)<<5 | u(3e+2)<<10 | bit e of u15 <<15}),
     * {@link #Q5Y} shorts per 16 columns: per lane {@code x(3e), x(3e+1) - 32 x(3e), x(3e+2) - 32 x(3e+1),
     * 2^e x15 - 32 x(3e+2)}, then {@code -16 * sum x} (centres the values, so that a 16-column sum fits a short), then
     * a pad; modulo 2^16.
     */
    short[] q5y = new short[0];
    static final int Q5Y = 22;

    // F16 / BF16 form: the values rounded to the weight's float type, as ggml converts activations to its vec_dot type.
    boolean roundedValid;
    GgmlType roundedType;
    int roundedN;
    int roundedCols;
    float[] rounded = new float[0];

    /** Marks every quantized form stale: the activation buffer changed. */
    public void invalidate() {
        roundedValid = false;
        q8Valid = false;
        kValid = false;
        q8Forms = 0;
        kForms = 0;
    }

    /**
     * {@code x[0..n*cols)} rounded to F16 or BF16 precision (made once per shape and type), the activation ggml
     * dots F16 and BF16 weights with.
     */
    float[] roundTo(GgmlType type, float[] x, int n, int cols) {
        if (roundedValid && roundedType == type && roundedN == n && roundedCols == cols) return rounded;
        int len = n * cols;
        if (rounded.length < len) rounded = new float[len];
        if (type == GgmlType.F16) {
            for (int j = 0; j < len; j++) rounded[j] = Float.float16ToFloat(Float.floatToFloat16(x[j]));
        } else {
            for (int j = 0; j < len; j++) rounded[j] = Dequant.bf16ToFloat(Quantize.floatToBf16(x[j]));
        }
        roundedType = type;
        roundedN = n;
        roundedCols = cols;
        roundedValid = true;
        return rounded;
    }

    /**
     * Makes the forms the interleaved kernel of {@code weight} reads from the valid Q8_0 form, unless already made for
     * this input: {@link #q8y} for Q4_0 and Q4_1, {@link #q8f} for Q8_0, {@link #q5y8} for Q5_0 and Q5_1.
     */
    void telescopeQ8_0(GgmlType weight) {
        int bit = switch (weight) {
            case Q4_0, Q4_1 -> 1;
            case Q8_0 -> 2;
            case Q5_0, Q5_1 -> 4;
            default -> throw new IllegalArgumentException(weight + " has no interleaved kernel on Q8_0 activations");
        };
        if ((q8Forms & bit) != 0) return;
        int len = q8N * q8Cols;
        switch (bit) {
            case 1 -> {
                if (q8y.length < len) q8y = new short[len];
                telescope4(q8, q8y, len);
            }
            case 2 -> {
                if (q8f.length < len) q8f = new float[len];
                for (int j = 0; j < len; j++) q8f[j] = q8[j];
            }
            default -> {
                if (q5y8.length < len / 16 * Q5Y) q5y8 = new short[len / 16 * Q5Y];
                telescope5(q8, q5y8, len);
            }
        }
        q8Forms |= bit;
    }

    /** {@link #q5y}'s form of {@code x[0..len)}. */
    private static void telescope5(short[] x, short[] y, int len) {
        for (int c = 0, o = 0; c < len; c += 16, o += Q5Y) {
            int sum = 0;
            for (int k = 0; k < 16; k++) sum += x[c + k];
            for (int e = 0; e < 5; e++) {
                int f = c + 3 * e, to = o + 4 * e;
                chain(x, f, 3, 32, y, to);
                y[to + 3] = (short) ((1 << e) * x[c + 15] - 32 * x[f + 2]);
            }
            y[o + 20] = (short) (-16 * sum);
            y[o + 21] = 0;
        }
    }

    /**
     * Makes the telescoped form the interleaved kernel of {@code weight} reads ({@link #qky} for Q4_K, {@link #q6y},
     * {@link #q3y}, {@link #q2y} or {@link #q5y}) from the valid Q8_K form, unless already made for this input: each is
     * made only when a product of that weight type needs it (a model mixes two or three of the five types).
     */
    void telescopeQ8_K(GgmlType weight) {
        int bit = 1 << weight.ordinal();
        if ((kForms & bit) != 0) return;
        int len = kN * kCols;
        short[] x = qk;
        switch (weight) {
            case Q4_K -> {
                if (qky.length < len) qky = new short[len];
                telescope4(x, qky, len);
            }
            case Q6_K -> {
                if (q6y.length < len / 8 * Q6Y) q6y = new short[len / 8 * Q6Y];
                for (int c = 0, o = 0; c < len; c += 8, o += Q6Y) {
                    int sum = 0;
                    for (int k = 0; k < 8; k++) sum += x[c + k];
                    q6y[o] = x[c];
                    q6y[o + 1] = (short) (x[c + 1] - 64 * x[c]);
                    q6y[o + 2] = (short) (x[c + 6] - 64 * x[c + 1]);
                    q6y[o + 3] = x[c + 2];
                    q6y[o + 4] = (short) (x[c + 3] - 64 * x[c + 2]);
                    q6y[o + 5] = (short) (x[c + 7] - 64 * x[c + 3]);
                    q6y[o + 6] = x[c + 4];
                    q6y[o + 7] = (short) (x[c + 5] - 64 * x[c + 4]);
                    q6y[o + 8] = (short) (16 * x[c + 6] - 64 * x[c + 5]);
                    q6y[o + 9] = (short) (16 * x[c + 7] - 64 * x[c + 6]);
                    q6y[o + 10] = (short) (-32 * sum);
                    q6y[o + 11] = 0;
                }
            }
            case Q3_K -> {
                if (q3y.length < len / 16 * Q3Y) q3y = new short[len / 16 * Q3Y];
                for (int c = 0, o = 0; c < len; c += 16, o += Q3Y) {
                    int sum = 0;
                    for (int k = 0; k < 16; k++) sum += x[c + k];
                    for (int e = 0; e < 3; e++) {
                        int f = c + 5 * e, to = o + 6 * e;
                        chain(x, f, 5, 8, q3y, to);
                        q3y[to + 5] = (short) ((1 << e) * x[c + 15] - 8 * x[f + 4]);
                    }
                    q3y[o + 18] = (short) (-4 * sum);
                    q3y[o + 19] = 0;
                }
            }
            case Q2_K -> {
                if (q2y.length < len / 16 * Q2Y) q2y = new short[len / 16 * Q2Y];
                for (int c = 0; c < len; c += 8) chain(x, c, 8, 4, q2y, c); // one factor per column (Q2Y = 16)
            }
            case Q5_K -> {
                if (q5y.length < len / 16 * Q5Y) q5y = new short[len / 16 * Q5Y];
                telescope5(x, q5y, len);
            }
            default -> throw new IllegalArgumentException(weight + " has no interleaved kernel on Q8_K activations");
        }
        kForms |= bit;
    }

    private static void telescope4(short[] x, short[] y, int len) {
        for (int c = 0; c < len; c += 4) chain(x, c, 4, 16, y, c);
    }

    /**
     * The factors of {@code count} adjacent fields whose bit offsets step by log2 {@code factor}:
     * {@code y[to] = x[f]}, {@code y[to + k] = x[f + k] - factor * x[f + k - 1]}, modulo 2^16 (see
     * {@link InterleavedKernels}: the lane shifted right to field k times y[to + k], summed, is sum field_k x[f + k]).
     */
    private static void chain(short[] x, int f, int count, int factor, short[] y, int to) {
        y[to] = x[f];
        for (int k = 1; k < count; k++) y[to + k] = (short) (x[f + k] - factor * x[f + k - 1]);
    }

    /**
     * Makes the Q8_0 form of {@code x[0..n*cols)} (unless already valid for the same shape). Rounding is
     * llama.cpp's x86 {@code quantize_row_q8_0}: {@code d = amax/127}, values {@code rint(x * 127/amax)}.
     */
    void quantizeQ8_0(float[] x, int n, int cols) {
        if (q8Valid && q8N == n && q8Cols == cols) return;
        q8Forms = 0;
        int len = n * cols;
        int blocks = len / 32;
        if (q8.length < len) q8 = new short[len];
        if (q8d.length < blocks) {
            q8d = new float[blocks];
            q8sum = new int[blocks];
        }
        for (int b = 0; b < blocks; b++) {
            int o = 32 * b;
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[o + j]));
            float id = amax != 0 ? 127f / amax : 0f;
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                int q = (int) Math.rint(x[o + j] * id);
                q8[o + j] = (short) q;
                sum += q;
            }
            q8d[b] = Float.float16ToFloat(Float.floatToFloat16(amax / 127f)); // ggml's block_q8_0 keeps d as f16
            q8sum[b] = sum;
        }
        q8N = n;
        q8Cols = cols;
        q8Valid = true;
    }

    /**
     * Makes the Q8_K form of {@code x[0..n*cols)} (unless already valid for the same shape), as ggml's
     * {@code quantize_row_q8_K_ref}: {@code iscale = -127/max} with {@code max} the signed value of largest
     * magnitude, values {@code min(127, rint(x * iscale))}, {@code d = 1/iscale}, sums per 16.
     */
    void quantizeQ8_K(float[] x, int n, int cols) {
        if (kValid && kN == n && kCols == cols) return;
        kForms = 0;
        int len = n * cols;
        int blocks = len / 256;
        if (qk.length < len) qk = new short[len];
        if (qkd.length < blocks) {
            qkd = new float[blocks];
            qkSum = new int[blocks * 16];
        }
        for (int b = 0; b < blocks; b++) {
            int o = 256 * b;
            float amax = 0, max = 0;
            for (int j = 0; j < 256; j++) {
                float a = Math.abs(x[o + j]);
                if (a > amax) {
                    amax = a;
                    max = x[o + j];
                }
            }
            if (amax == 0) {
                qkd[b] = 0;
                for (int j = 0; j < 256; j++) qk[o + j] = 0;
                for (int g = 0; g < 16; g++) qkSum[16 * b + g] = 0;
                continue;
            }
            float iscale = -127f / max;
            for (int g = 0; g < 16; g++) {
                int sum = 0;
                for (int l = 0; l < 16; l++) {
                    int q = Math.min(127, (int) Math.rint(iscale * x[o + 16 * g + l]));
                    qk[o + 16 * g + l] = (short) q;
                    sum += q;
                }
                qkSum[16 * b + g] = sum;
            }
            qkd[b] = 1 / iscale;
        }
        kN = n;
        kCols = cols;
        kValid = true;
    }
}
