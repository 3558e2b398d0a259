package io.strata.engine.cpu;

import io.strata.engine.tensor.GgmlType;

import java.lang.foreign.MemorySegment;

import static io.strata.engine.cpu.Dequant.F32;
import static io.strata.engine.cpu.Dequant.I16;
import static io.strata.engine.cpu.Dequant.I32;
import static io.strata.engine.cpu.Dequant.I8;
import static io.strata.engine.cpu.Dequant.f16;
import static io.strata.engine.cpu.Dequant.kMin;
import static io.strata.engine.cpu.Dequant.kScale;
import static io.strata.engine.cpu.Dequant.q3KScale;
import static io.strata.engine.cpu.Dequant.u8;

/**
 * The scalar twins of {@link VectorKernels}: one weight row dotted with one activation row, with ggml's semantics
 * ({@code ggml_vec_dot_*}, generic versions). Quantized weights are dotted with the activation's quantized form
 * from {@link ActivationCache} (integer sums per block, then scaled); float weights with the f32 activation.
 *
 * <p>Cost model: a handful of scalar integer ops per weight; these are the reference the vector kernels are tested
 * against and the path {@code -Dstrata.kernels=scalar} forces, not the fast path.
 */
final class ScalarKernels {

    private ScalarKernels() {
    }

    /**
     * The dot product of the row at byte {@code o} of {@code w} ({@code cols} values of {@code type}) with activation
     * row {@code i}: {@code x[i*cols..]} for float types, the Q8_0 / Q8_K form in {@code a} otherwise.
     */
    static float dot(GgmlType type, MemorySegment w, long o, int cols, float[] x, ActivationCache a, int i) {
        int xo = i * cols;
        return switch (type) {
            case F32 -> dotF32(w, o, cols, x, xo);
            case F16 -> dotF16(w, o, cols, x, xo);
            case BF16 -> dotBF16(w, o, cols, x, xo);
            case Q4_0 -> dotQ4_0(w, o, cols, a, xo);
            case Q4_1 -> dotQ4_1(w, o, cols, a, xo);
            case Q5_0 -> dotQ5_0(w, o, cols, a, xo);
            case Q5_1 -> dotQ5_1(w, o, cols, a, xo);
            case Q8_0 -> dotQ8_0(w, o, cols, a, xo);
            case Q2_K -> dotQ2_K(w, o, cols, a, xo);
            case Q3_K -> dotQ3_K(w, o, cols, a, xo);
            case Q4_K -> dotQ4_K(w, o, cols, a, xo);
            case Q5_K -> dotQ5_K(w, o, cols, a, xo);
            case Q6_K -> dotQ6_K(w, o, cols, a, xo);
            case Q8_K -> dotQ8_K(w, o, cols, a, xo);
        };
    }

    static float dotF32(MemorySegment w, long o, int cols, float[] x, int xo) {
        float s = 0;
        for (int c = 0; c < cols; c++) s += w.get(F32, o + 4L * c) * x[xo + c];
        return s;
    }

    static float dotF16(MemorySegment w, long o, int cols, float[] x, int xo) {
        float s = 0;
        for (int c = 0; c < cols; c++) s += f16(w, o + 2L * c) * x[xo + c];
        return s;
    }

    /** ggml dots BF16 weights with activations converted to BF16 (its vec_dot type for BF16 is BF16). */
    static float dotBF16(MemorySegment w, long o, int cols, float[] x, int xo) {
        float s = 0;
        for (int c = 0; c < cols; c++) s += Dequant.bf16ToFloat(w.get(I16, o + 2L * c)) * roundBf16(x[xo + c]);
        return s;
    }

    /** {@code f} rounded to BF16 precision, as ggml's fp32-to-bf16 conversion. */
    static float roundBf16(float f) {
        return Dequant.bf16ToFloat(Quantize.floatToBf16(f));
    }

    // ---- 32-element blocks against Q8_0 activations (xo: element offset of the activation row) ----

    static float dotQ4_0(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 32; b++, o += 18) {
            int e = xo + 32 * b;
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int q = u8(w, o + 2 + j);
                sum += ((q & 0xF) - 8) * a.q8[e + j] + ((q >>> 4) - 8) * a.q8[e + j + 16];
            }
            s += sum * (f16(w, o) * a.q8d[e / 32]);
        }
        return s;
    }

    static float dotQ4_1(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 32; b++, o += 20) {
            int e = xo + 32 * b;
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int q = u8(w, o + 4 + j);
                sum += (q & 0xF) * a.q8[e + j] + (q >>> 4) * a.q8[e + j + 16];
            }
            float dx = a.q8d[e / 32];
            s += sum * (f16(w, o) * dx) + f16(w, o + 2) * (dx * a.q8sum[e / 32]);
        }
        return s;
    }

    static float dotQ5_0(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 32; b++, o += 22) {
            int e = xo + 32 * b;
            int qh = w.get(I32, o + 2);
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int q = u8(w, o + 6 + j);
                int q0 = ((q & 0xF) | (((qh >>> j) & 1) << 4)) - 16;
                int q1 = ((q >>> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16;
                sum += q0 * a.q8[e + j] + q1 * a.q8[e + j + 16];
            }
            s += sum * (f16(w, o) * a.q8d[e / 32]);
        }
        return s;
    }

    static float dotQ5_1(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 32; b++, o += 24) {
            int e = xo + 32 * b;
            int qh = w.get(I32, o + 4);
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int q = u8(w, o + 8 + j);
                int q0 = (q & 0xF) | (((qh >>> j) & 1) << 4);
                int q1 = (q >>> 4) | (((qh >>> (j + 16)) & 1) << 4);
                sum += q0 * a.q8[e + j] + q1 * a.q8[e + j + 16];
            }
            float dx = a.q8d[e / 32];
            s += sum * (f16(w, o) * dx) + f16(w, o + 2) * (dx * a.q8sum[e / 32]);
        }
        return s;
    }

    static float dotQ8_0(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 32; b++, o += 34) {
            int e = xo + 32 * b;
            int sum = 0;
            for (int j = 0; j < 32; j++) sum += w.get(I8, o + 2 + j) * a.q8[e + j];
            s += sum * (f16(w, o) * a.q8d[e / 32]);
        }
        return s;
    }

    // ---- 256-element blocks against Q8_K activations ----

    static float dotQ2_K(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 256; b++, o += 84) {
            int e = xo + 256 * b;
            int kb = e / 256;
            int sumi = 0, mins = 0;
            for (int g = 0; g < 16; g++) {
                int sc = u8(w, o + g);
                mins += (sc >>> 4) * a.qkSum[16 * kb + g];
                // group g: half g/8, shift 2*((g%8)/2), bytes 16*(g%2)..+16 of the half's 32.
                int half = g / 8, shift = 2 * ((g % 8) / 2), part = g % 2;
                int dot = 0;
                for (int l = 0; l < 16; l++) {
                    int q = (u8(w, o + 16 + 32 * half + 16 * part + l) >>> shift) & 3;
                    dot += q * a.qk[e + 16 * g + l];
                }
                sumi += (sc & 0xF) * dot;
            }
            float dx = a.qkd[kb];
            s += dx * f16(w, o + 80) * sumi - dx * f16(w, o + 82) * mins;
        }
        return s;
    }

    static float dotQ3_K(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 256; b++, o += 110) {
            int e = xo + 256 * b;
            int sumi = 0;
            for (int g = 0; g < 16; g++) {
                int half = g / 8, j = (g % 8) / 2, part = g % 2;
                int shift = 2 * j, m = 1 << (4 * half + j);
                int dot = 0;
                for (int l = 0; l < 16; l++) {
                    int lo = (u8(w, o + 32 + 32 * half + 16 * part + l) >>> shift) & 3;
                    int hi = (u8(w, o + 16 * part + l) & m) != 0 ? 0 : 4;
                    dot += (lo - hi) * a.qk[e + 16 * g + l];
                }
                sumi += q3KScale(w, o + 96, g) * dot;
            }
            s += a.qkd[e / 256] * f16(w, o + 108) * sumi;
        }
        return s;
    }

    static float dotQ4_K(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 256; b++, o += 144) {
            int e = xo + 256 * b;
            int kb = e / 256;
            int sumi = 0, mins = 0;
            for (int j = 0; j < 8; j++) {
                int dot = 0;
                long q = o + 16 + 32L * (j / 2);
                int shift = 4 * (j % 2);
                for (int l = 0; l < 32; l++) dot += ((u8(w, q + l) >>> shift) & 0xF) * a.qk[e + 32 * j + l];
                sumi += kScale(w, o + 4, j) * dot;
                mins += kMin(w, o + 4, j) * (a.qkSum[16 * kb + 2 * j] + a.qkSum[16 * kb + 2 * j + 1]);
            }
            float dx = a.qkd[kb];
            s += dx * f16(w, o) * sumi - dx * f16(w, o + 2) * mins;
        }
        return s;
    }

    static float dotQ5_K(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 256; b++, o += 176) {
            int e = xo + 256 * b;
            int kb = e / 256;
            int sumi = 0, mins = 0;
            for (int j = 0; j < 8; j++) {
                int dot = 0;
                long q = o + 48 + 32L * (j / 2);
                int shift = 4 * (j % 2);
                for (int l = 0; l < 32; l++) {
                    int v = ((u8(w, q + l) >>> shift) & 0xF) | (((u8(w, o + 16 + l) >>> j) & 1) << 4);
                    dot += v * a.qk[e + 32 * j + l];
                }
                sumi += kScale(w, o + 4, j) * dot;
                mins += kMin(w, o + 4, j) * (a.qkSum[16 * kb + 2 * j] + a.qkSum[16 * kb + 2 * j + 1]);
            }
            float dx = a.qkd[kb];
            s += dx * f16(w, o) * sumi - dx * f16(w, o + 2) * mins;
        }
        return s;
    }

    static float dotQ6_K(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 256; b++, o += 210) {
            int e = xo + 256 * b;
            int sumi = 0;
            for (int half = 0; half < 2; half++) {
                long ql = o + 64L * half, qh = o + 128 + 32L * half;
                // quarter k of the half: elements 32k..32k+31, scale groups 2k + l/16 (within the half's 8).
                for (int k = 0; k < 4; k++) {
                    for (int g = 0; g < 2; g++) {
                        int dot = 0;
                        for (int l = 16 * g; l < 16 * g + 16; l++) {
                            int lo = (u8(w, ql + l + 32 * (k & 1)) >>> (4 * (k >>> 1))) & 0xF;
                            int hi = (u8(w, qh + l) >>> (2 * k)) & 3;
                            dot += ((lo | (hi << 4)) - 32) * a.qk[e + 128 * half + 32 * k + l];
                        }
                        sumi += w.get(I8, o + 192 + 8 * half + 2 * k + g) * dot;
                    }
                }
            }
            s += a.qkd[e / 256] * f16(w, o + 208) * sumi;
        }
        return s;
    }

    static float dotQ8_K(MemorySegment w, long o, int cols, ActivationCache a, int xo) {
        float s = 0;
        for (int b = 0; b < cols / 256; b++, o += 292) {
            int e = xo + 256 * b;
            int sum = 0;
            for (int j = 0; j < 256; j++) sum += w.get(I8, o + 4 + j) * a.qk[e + j];
            s += w.get(F32, o) * a.qkd[e / 256] * sum;
        }
        return s;
    }
}
