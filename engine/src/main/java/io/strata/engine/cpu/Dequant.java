package io.strata.engine.cpu;

import io.strata.engine.tensor.GgmlType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Scalar reference dequantization of every {@link GgmlType}, with ggml's semantics (its {@code dequantize_row_*}).
 *
 * <p>This is the readable definition the fast kernels are tested against: one block at a time, one element at
 * a time, in the order ggml writes the outputs. Block layouts are in {@link GgmlType}'s javadoc. All reads are
 * little-endian and unaligned. Cost model: a few integer ops and one multiply per element; it is used for
 * embedding lookups (one row per token) and tests, not for matrix products.
 */
public final class Dequant {

    static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Dequant() {
    }

    /**
     * Dequantizes {@code n} consecutive elements starting at byte {@code byteOffset} of {@code src} (which must be
     * the start of a block) into {@code dst[dstOff..dstOff+n)}. {@code n} must be a multiple of the type's block size.
     */
    public static void dequantizeRow(GgmlType type, MemorySegment src, long byteOffset, float[] dst, int dstOff, int n) {
        if (n % type.blockSize != 0) {
            throw new IllegalArgumentException(type + ": " + n + " elements is not a multiple of the block size " + type.blockSize);
        }
        int blocks = n / type.blockSize;
        long o = byteOffset;
        int y = dstOff;
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) dst[y + i] = src.get(F32, o + 4L * i);
            }
            case F16 -> {
                for (int i = 0; i < n; i++) dst[y + i] = f16(src, o + 2L * i);
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) dst[y + i] = bf16ToFloat(src.get(I16, o + 2L * i));
            }
            case Q4_0 -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 32) q4_0(src, o, dst, y);
            }
            case Q4_1 -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 32) q4_1(src, o, dst, y);
            }
            case Q5_0 -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 32) q5_0(src, o, dst, y);
            }
            case Q5_1 -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 32) q5_1(src, o, dst, y);
            }
            case Q8_0 -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 32) q8_0(src, o, dst, y);
            }
            case Q2_K -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 256) q2_K(src, o, dst, y);
            }
            case Q3_K -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 256) q3_K(src, o, dst, y);
            }
            case Q4_K -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 256) q4_K(src, o, dst, y);
            }
            case Q5_K -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 256) q5_K(src, o, dst, y);
            }
            case Q6_K -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 256) q6_K(src, o, dst, y);
            }
            case Q8_K -> {
                for (int b = 0; b < blocks; b++, o += type.typeSize, y += 256) q8_K(src, o, dst, y);
            }
        }
    }

    /** The f16 at byte {@code off}, widened to f32. */
    static float f16(MemorySegment s, long off) {
        return Float.float16ToFloat(s.get(I16, off));
    }

    /** bf16 bits (the upper half of an f32) to f32. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    static int u8(MemorySegment s, long off) {
        return s.get(I8, off) & 0xFF;
    }

    // Q4_0: d @0, qs[16] @2. Element j: low nibble of qs[j]; element j+16: high nibble. x = d * (q - 8).
    private static void q4_0(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 2 + j);
            y[yo + j] = ((q & 0xF) - 8) * d;
            y[yo + j + 16] = ((q >>> 4) - 8) * d;
        }
    }

    // Q4_1: d @0, m @2, qs[16] @4. x = d * q + m.
    private static void q4_1(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o);
        float m = f16(s, o + 2);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 4 + j);
            y[yo + j] = (q & 0xF) * d + m;
            y[yo + j + 16] = (q >>> 4) * d + m;
        }
    }

    // Q5_0: d @0, qh (u32) @2, qs[16] @6. Bit j of qh is bit 4 of element j, bit j+16 of element j+16. x = d * (q - 16).
    private static void q5_0(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o);
        int qh = s.get(I32, o + 2);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 6 + j);
            int h0 = ((qh >>> j) & 1) << 4;
            int h1 = ((qh >>> (j + 16)) & 1) << 4;
            y[yo + j] = (((q & 0xF) | h0) - 16) * d;
            y[yo + j + 16] = (((q >>> 4) | h1) - 16) * d;
        }
    }

    // Q5_1: d @0, m @2, qh (u32) @4, qs[16] @8. x = d * q + m.
    private static void q5_1(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o);
        float m = f16(s, o + 2);
        int qh = s.get(I32, o + 4);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, o + 8 + j);
            int h0 = ((qh >>> j) & 1) << 4;
            int h1 = ((qh >>> (j + 16)) & 1) << 4;
            y[yo + j] = ((q & 0xF) | h0) * d + m;
            y[yo + j + 16] = ((q >>> 4) | h1) * d + m;
        }
    }

    // Q8_0: d @0, qs[32] (i8) @2. x = d * q.
    private static void q8_0(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o);
        for (int j = 0; j < 32; j++) y[yo + j] = s.get(I8, o + 2 + j) * d;
    }

    // Q2_K: scales[16] @0 (low nibble scale, high nibble min), qs[64] @16, d @80, dmin @82.
    // Two halves of 128; in each, 4 shifts (0,2,4,6) x 2 groups of 16 bytes; one scale per 16 elements.
    private static void q2_K(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o + 80);
        float dmin = f16(s, o + 82);
        int is = 0;
        int out = yo;
        for (int half = 0; half < 2; half++) {
            long q = o + 16 + 32L * half;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int g = 0; g < 2; g++) {
                    int sc = u8(s, o + is++);
                    float dl = d * (sc & 0xF);
                    float ml = dmin * (sc >>> 4);
                    for (int l = 0; l < 16; l++) {
                        y[out++] = dl * ((u8(s, q + 16 * g + l) >>> shift) & 3) - ml;
                    }
                }
            }
        }
    }

    /** Signed 6-bit scale {@code j} (0..15) of a Q3_K block whose 12 scale bytes start at {@code sc}, minus 32. */
    static int q3KScale(MemorySegment s, long sc, int j) {
        int low = j < 8 ? u8(s, sc + j) & 0xF : u8(s, sc + j - 8) >>> 4;
        int high = (u8(s, sc + 8 + (j & 3)) >>> (2 * (j >>> 2))) & 3;
        return (low | (high << 4)) - 32;
    }

    // Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96, d @108. q = 2 low bits from qs, minus 4 unless the hmask bit is set.
    private static void q3_K(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o + 108);
        int is = 0;
        int out = yo;
        int m = 1;
        for (int half = 0; half < 2; half++) {
            long q = o + 32 + 32L * half;
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int g = 0; g < 2; g++) {
                    float dl = d * q3KScale(s, o + 96, is++);
                    for (int l = 0; l < 16; l++) {
                        int lo = (u8(s, q + 16 * g + l) >>> shift) & 3;
                        int hi = (u8(s, o + 16 * g + l) & m) != 0 ? 0 : 4;
                        y[out++] = dl * (lo - hi);
                    }
                }
            }
        }
    }

    /** 6-bit scale of sub-block {@code j} (0..7) of a Q4_K/Q5_K block whose 12 scale bytes start at {@code sc}. */
    static int kScale(MemorySegment s, long sc, int j) {
        if (j < 4) return u8(s, sc + j) & 63;
        return (u8(s, sc + j + 4) & 0xF) | ((u8(s, sc + j - 4) >>> 6) << 4);
    }

    /** 6-bit min of sub-block {@code j} (0..7) of a Q4_K/Q5_K block whose 12 scale bytes start at {@code sc}. */
    static int kMin(MemorySegment s, long sc, int j) {
        if (j < 4) return u8(s, sc + j + 4) & 63;
        return (u8(s, sc + j + 4) >>> 4) | ((u8(s, sc + j) >>> 6) << 4);
    }

    // Q4_K: d @0, dmin @2, scales[12] @4, qs[128] @16. Per 64 elements: 32 low nibbles (sub-block 2i), 32 high (2i+1).
    private static void q4_K(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o);
        float dmin = f16(s, o + 2);
        int out = yo;
        for (int i = 0; i < 4; i++) {
            float d1 = d * kScale(s, o + 4, 2 * i), m1 = dmin * kMin(s, o + 4, 2 * i);
            float d2 = d * kScale(s, o + 4, 2 * i + 1), m2 = dmin * kMin(s, o + 4, 2 * i + 1);
            long q = o + 16 + 32L * i;
            for (int l = 0; l < 32; l++) y[out++] = d1 * (u8(s, q + l) & 0xF) - m1;
            for (int l = 0; l < 32; l++) y[out++] = d2 * (u8(s, q + l) >>> 4) - m2;
        }
    }

    // Q5_K: d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48. Sub-block k takes its 5th bit from bit k of qh[l].
    private static void q5_K(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o);
        float dmin = f16(s, o + 2);
        int out = yo;
        for (int i = 0; i < 4; i++) {
            float d1 = d * kScale(s, o + 4, 2 * i), m1 = dmin * kMin(s, o + 4, 2 * i);
            float d2 = d * kScale(s, o + 4, 2 * i + 1), m2 = dmin * kMin(s, o + 4, 2 * i + 1);
            long q = o + 48 + 32L * i;
            int u1 = 1 << (2 * i), u2 = 2 << (2 * i);
            for (int l = 0; l < 32; l++) {
                int h = (u8(s, o + 16 + l) & u1) != 0 ? 16 : 0;
                y[out++] = d1 * ((u8(s, q + l) & 0xF) + h) - m1;
            }
            for (int l = 0; l < 32; l++) {
                int h = (u8(s, o + 16 + l) & u2) != 0 ? 16 : 0;
                y[out++] = d2 * ((u8(s, q + l) >>> 4) + h) - m2;
            }
        }
    }

    // Q6_K: ql[128] @0, qh[64] @128, scales[16] (i8) @192, d @208. Two halves of 128 elements; in each, element l
    // (l < 32) and l+32, l+64, l+96 share ql[l], ql[l+32] and qh[l]. x = d * scale * (q - 32), one scale per 16.
    private static void q6_K(MemorySegment s, long o, float[] y, int yo) {
        float d = f16(s, o + 208);
        for (int half = 0; half < 2; half++) {
            long ql = o + 64L * half;
            long qh = o + 128 + 32L * half;
            long sc = o + 192 + 8L * half;
            int base = yo + 128 * half;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int a = u8(s, ql + l), b = u8(s, ql + l + 32), h = u8(s, qh + l);
                int q1 = ((a & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((b & 0xF) | (((h >>> 2) & 3) << 4)) - 32;
                int q3 = ((a >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
                int q4 = ((b >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
                y[base + l] = d * s.get(I8, sc + is) * q1;
                y[base + l + 32] = d * s.get(I8, sc + is + 2) * q2;
                y[base + l + 64] = d * s.get(I8, sc + is + 4) * q3;
                y[base + l + 96] = d * s.get(I8, sc + is + 6) * q4;
            }
        }
    }

    // Q8_K: d (f32) @0, qs[256] (i8) @4, bsums[16] (i16) @260. x = d * q.
    private static void q8_K(MemorySegment s, long o, float[] y, int yo) {
        float d = s.get(F32, o);
        for (int j = 0; j < 256; j++) y[yo + j] = d * s.get(I8, o + 4 + j);
    }
}
