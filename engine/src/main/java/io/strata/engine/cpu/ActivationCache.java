package io.strata.engine.cpu;

/**
 * The quantized forms of one activation buffer, made once and shared by the matrix products that read the same
 * input (q/k/v, gate/up). The owner calls {@link #invalidate()} whenever the buffer is written.
 *
 * <p>As in llama.cpp, quantized weights are not dotted with f32 activations but with activations quantized per
 * block: Q8_0 blocks of 32 (for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights) and Q8_K blocks of 256 (for the K-quants).
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

    /** Marks every quantized form stale: the activation buffer changed. */
    public void invalidate() {
        q8Valid = false;
        kValid = false;
    }

    /**
     * Makes the Q8_0 form of {@code x[0..n*cols)} (unless already valid for the same shape). Rounding is
     * llama.cpp's x86 {@code quantize_row_q8_0}: {@code d = amax/127}, values {@code rint(x * 127/amax)}.
     */
    void quantizeQ8_0(float[] x, int n, int cols) {
        if (q8Valid && q8N == n && q8Cols == cols) return;
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
