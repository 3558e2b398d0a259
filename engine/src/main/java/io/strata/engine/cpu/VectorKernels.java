package io.strata.engine.cpu;

import io.strata.engine.tensor.GgmlType;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

import static io.strata.engine.cpu.Dequant.f16;

/**
 * Vector API dot products of one weight row (ggml layout, in place in the file map) with one activation row; the
 * twins of {@link ScalarKernels}, with the same integer sums per block.
 *
 * <p>Shapes: {@code L} = lanes of the preferred float vector (16 with AVX-512, 8 with AVX2). Weights are widened to
 * {@code L} shorts ({@link #SS}, half the preferred width) and multiplied by the activation's int8 values kept as
 * shorts; two such products (|q| &le; 127 each) still fit a short, so pairs are added before widening to {@code L}
 * ints ({@link #IS}), scaled and accumulated in {@code L} floats. Requires a preferred shape of at least 256 bits;
 * {@link #SUPPORTED} says whether this machine has it.
 */
final class VectorKernels {

    static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    static final int L = FS.length();
    static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());
    static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(FS.vectorBitSize() / 2));
    static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, FS.vectorBitSize() / 4)));
    /** Whether the shapes above are native here (AVX2 or AVX-512); otherwise only the scalar kernels run. */
    static final boolean SUPPORTED = FS.vectorBitSize() >= 256 && BS.length() == L && SS.length() == L;

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Lane pairings of a fixed-order reduction: lane i with lane i ^ (L/2), then i ^ (L/4), ..., i ^ 1. */
    /**
     * Sum of the lanes in a fixed order (lane 0 first). {@code reduceLanes(ADD)} may add the lanes in another order
     * once C2 compiles it than in the interpreter, so the same input could give different bits before and after
     * warm-up (and in two processes at different stages of JIT compilation); scalar adds in a fixed order cannot.
     * (A tree of {@code rearrange}s was 3-4x slower here: C2 does not keep the shuffles of an array constant.)
     */
    static float sum(FloatVector v) {
        float s = 0;
        for (int i = 0; i < L; i++) s += v.lane(i);
        return s;
    }

    private VectorKernels() {
    }

    /**
     * Same contract as {@link ScalarKernels#dot}, except that quantized rows are read from {@code row}, a heap copy
     * of the row (the caller copies it from the map once per call; on a heap array C2 drops the per-access checks a
     * mapped segment needs, which otherwise dominate these short nested loops). Float rows are read in place. For the
     * types {@link #unpacks} names, {@code unpacked} holds the row unpacked by {@link #unpack}.
     */
    static float dot(GgmlType type, MemorySegment w, long o, byte[] row, short[] unpacked, int cols, float[] x,
                     ActivationCache a, int i) {
        int xo = i * cols;
        return switch (type) {
            case F32 -> dotF32(w, o, cols, x, xo);
            case F16 -> dotF16(w, o, cols, x, xo);
            case BF16 -> dotBF16(w, o, cols, x, xo);
            case Q4_0 -> dotQ4_0(row, 0, cols, a, xo);
            case Q4_1 -> dotQ4_1(row, 0, cols, a, xo);
            case Q5_0 -> dotQ5_0(row, 0, cols, a, xo);
            case Q5_1 -> dotQ5_1(row, 0, cols, a, xo);
            case Q8_0 -> dotQ8_0(row, 0, cols, a, xo);
            case Q2_K -> dotQ2_K(row, 0, cols, a, xo);
            case Q3_K -> dotQ3_K(row, 0, cols, a, xo);
            case Q4_K -> dotQ4_K(row, 0, cols, a, xo);
            case Q5_K -> dotQ5_K(row, 0, cols, a, xo);
            case Q6_K -> dotQ6_K(row, unpacked, cols, a, xo);
            case Q8_K -> dotQ8_K(row, 0, cols, a, xo);
        };
    }

    /** Whether {@link #dot} wants the row {@link #unpack}ed first (once per row, shared by the inputs). */
    static boolean unpacks(GgmlType type) {
        return type == GgmlType.Q6_K;
    }

    /** Unpacks a row copy of a type {@link #unpacks} names into {@code q}. */
    static void unpack(GgmlType type, byte[] row, int cols, short[] q) {
        if (type == GgmlType.Q6_K) unpackQ6_K(row, cols, q);
    }

    /** {@code L} bytes at {@code off}, sign-extended to shorts. */
    private static ShortVector bytesS(byte[] w, int off) {
        return (ShortVector) ByteVector.fromArray(BS, w, off).convertShape(VectorOperators.B2S, SS, 0);
    }

    /** {@code L} bytes at {@code off}, zero-extended to shorts. */
    private static ShortVector bytesU(byte[] w, int off) {
        return (ShortVector) ByteVector.fromArray(BS, w, off).convertShape(VectorOperators.ZERO_EXTEND_B2S, SS, 0);
    }

    private static final VarHandle I16_LE = MethodHandles.byteArrayViewVarHandle(short[].class, LE);
    private static final VarHandle I32_LE = MethodHandles.byteArrayViewVarHandle(int[].class, LE);
    private static final VarHandle F32_LE = MethodHandles.byteArrayViewVarHandle(float[].class, LE);

    private static int u8(byte[] w, int o) {
        return w[o] & 0xFF;
    }

    private static float f16(byte[] w, int o) {
        return Float.float16ToFloat((short) I16_LE.get(w, o));
    }

    private static int i32(byte[] w, int o) {
        return (int) I32_LE.get(w, o);
    }

    private static float f32(byte[] w, int o) {
        return (float) F32_LE.get(w, o);
    }

    /** {@link Dequant#kScale} on a row copy. */
    private static int kScale(byte[] w, int sc, int j) {
        if (j < 4) return w[sc + j] & 63;
        return (w[sc + j + 4] & 0xF) | ((u8(w, sc + j - 4) >>> 6) << 4);
    }

    /** {@link Dequant#kMin} on a row copy. */
    private static int kMin(byte[] w, int sc, int j) {
        if (j < 4) return w[sc + j + 4] & 63;
        return (u8(w, sc + j + 4) >>> 4) | ((u8(w, sc + j) >>> 6) << 4);
    }

    /** {@link Dequant#q3KScale} on a row copy. */
    private static int q3KScale(byte[] w, int sc, int j) {
        int low = j < 8 ? w[sc + j] & 0xF : u8(w, sc + j - 8) >>> 4;
        int high = (u8(w, sc + 8 + (j & 3)) >>> (2 * (j >>> 2))) & 3;
        return (low | (high << 4)) - 32;
    }

    private static IntVector widen(ShortVector s) {
        return (IntVector) s.convertShape(VectorOperators.S2I, IS, 0);
    }

    private static FloatVector toFloat(IntVector v) {
        return (FloatVector) v.convert(VectorOperators.I2F, 0);
    }

    // ---- float weights: f32 activations; cost: one FMA per L weights plus the widening of f16/bf16 ----

    static float dotF32(MemorySegment w, long o, int cols, float[] x, int xo) {
        FloatVector a0 = FloatVector.zero(FS), a1 = FloatVector.zero(FS);
        int c = 0;
        for (; c + 2 * L <= cols; c += 2 * L) {
            a0 = FloatVector.fromMemorySegment(FS, w, o + 4L * c, LE).fma(FloatVector.fromArray(FS, x, xo + c), a0);
            a1 = FloatVector.fromMemorySegment(FS, w, o + 4L * (c + L), LE).fma(FloatVector.fromArray(FS, x, xo + c + L), a1);
        }
        float s = sum(a0.add(a1));
        for (; c < cols; c++) s += w.get(Dequant.F32, o + 4L * c) * x[xo + c];
        return s;
    }

    /** IEEE half bits (sign-extended in ints) to floats: exponent rebias by a multiply, which also handles subnormals. */
    private static FloatVector halfToFloat(IntVector h) {
        IntVector em = h.and(0x7FFF);
        IntVector bits = em.lanewise(VectorOperators.LSHL, 13);
        FloatVector f = ((FloatVector) bits.reinterpretAsFloats()).mul(0x1p112f);
        IntVector fb = f.reinterpretAsInts();
        VectorMask<Integer> infNan = em.compare(VectorOperators.GE, 0x7C00);
        fb = fb.blend(bits.or(0x7F800000), infNan);
        return (FloatVector) fb.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    static float dotF16(MemorySegment w, long o, int cols, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        int c = 0;
        for (; c + L <= cols; c += L) {
            ShortVector h = ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE);
            acc = halfToFloat(widen(h)).fma(FloatVector.fromArray(FS, x, xo + c), acc);
        }
        float s = sum(acc);
        for (; c < cols; c++) s += Dequant.f16(w, o + 2L * c) * x[xo + c];
        return s;
    }

    static float dotBF16(MemorySegment w, long o, int cols, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        int c = 0;
        for (; c + L <= cols; c += L) {
            IntVector b = widen(ShortVector.fromMemorySegment(SS, w, o + 2L * c, LE)).lanewise(VectorOperators.LSHL, 16);
            // ggml dots BF16 weights with activations rounded to BF16 (round to nearest even on the top 16 bits)
            IntVector xi = FloatVector.fromArray(FS, x, xo + c).reinterpretAsInts();
            IntVector xr = xi.add(xi.lanewise(VectorOperators.LSHR, 16).and(1)).add(0x7FFF).and(0xFFFF0000);
            acc = ((FloatVector) b.reinterpretAsFloats()).fma((FloatVector) xr.reinterpretAsFloats(), acc);
        }
        float s = sum(acc);
        for (; c < cols; c++) s += Dequant.bf16ToFloat(w.get(Dequant.I16, o + 2L * c)) * ScalarKernels.roundBf16(x[xo + c]);
        return s;
    }

    // ---- 32-element blocks against Q8_0 activations ----
    // Cost per block of 32: 32/L widened loads, 2 short multiplies and an add per L pairs, one widening to ints,
    // one int->float conversion and one FMA with the broadcast block scale; offsets (-8, -16) and mins are applied
    // once per block from the activation's block sum.

    static float dotQ4_0(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        ShortVector four = ShortVector.broadcast(SS, (short) 4);
        float corr = 0;
        for (int b = 0; b < cols / 32; b++, o += 18) {
            int e = xo + 32 * b;
            IntVector isum = IntVector.zero(IS);
            for (int h = 0; h < 16; h += L) {
                ShortVector q = bytesU(w, o + 2 + h);
                ShortVector p = q.and((short) 0xF).mul(ShortVector.fromArray(SS, a.q8, e + h))
                        .add(q.lanewise(VectorOperators.LSHR, four).mul(ShortVector.fromArray(SS, a.q8, e + 16 + h)));
                isum = isum.add(widen(p));
            }
            float d = f16(w, o) * a.q8d[e / 32];
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, d), acc);
            corr += d * a.q8sum[e / 32];
        }
        return sum(acc) - 8 * corr;
    }

    static float dotQ4_1(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        ShortVector four = ShortVector.broadcast(SS, (short) 4);
        float mins = 0;
        for (int b = 0; b < cols / 32; b++, o += 20) {
            int e = xo + 32 * b;
            IntVector isum = IntVector.zero(IS);
            for (int h = 0; h < 16; h += L) {
                ShortVector q = bytesU(w, o + 4 + h);
                ShortVector p = q.and((short) 0xF).mul(ShortVector.fromArray(SS, a.q8, e + h))
                        .add(q.lanewise(VectorOperators.LSHR, four).mul(ShortVector.fromArray(SS, a.q8, e + 16 + h)));
                isum = isum.add(widen(p));
            }
            float dx = a.q8d[e / 32];
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, f16(w, o) * dx), acc);
            mins += f16(w, o + 2) * (dx * a.q8sum[e / 32]);
        }
        return sum(acc) + mins;
    }

    /** Lane {@code k} (k &lt; L) of the result is 16 when bit {@code k + first} of {@code qh} is set, else 0. */
    private static ShortVector highBits(int qh, int first) {
        ShortVector bits = ShortVector.broadcast(SS, (short) (qh >>> first)).and(BIT_OF_LANE);
        return ShortVector.zero(SS).blend((short) 16, bits.compare(VectorOperators.NE, 0));
    }

    private static final ShortVector BIT_OF_LANE = bitOfLane();

    private static ShortVector bitOfLane() {
        short[] m = new short[SS.length()];
        for (int k = 0; k < m.length; k++) m[k] = (short) (1 << k);
        return ShortVector.fromArray(SS, m, 0);
    }

    static float dotQ5_0(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        ShortVector four = ShortVector.broadcast(SS, (short) 4);
        float corr = 0;
        for (int b = 0; b < cols / 32; b++, o += 22) {
            int e = xo + 32 * b;
            int qh = i32(w, o + 2);
            IntVector isum = IntVector.zero(IS);
            for (int h = 0; h < 16; h += L) {
                ShortVector q = bytesU(w, o + 6 + h);
                ShortVector lo = q.and((short) 0xF).or(highBits(qh, h));
                ShortVector hi = q.lanewise(VectorOperators.LSHR, four).or(highBits(qh, 16 + h));
                ShortVector p = lo.mul(ShortVector.fromArray(SS, a.q8, e + h)).add(hi.mul(ShortVector.fromArray(SS, a.q8, e + 16 + h)));
                isum = isum.add(widen(p));
            }
            float d = f16(w, o) * a.q8d[e / 32];
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, d), acc);
            corr += d * a.q8sum[e / 32];
        }
        return sum(acc) - 16 * corr;
    }

    static float dotQ5_1(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        ShortVector four = ShortVector.broadcast(SS, (short) 4);
        float mins = 0;
        for (int b = 0; b < cols / 32; b++, o += 24) {
            int e = xo + 32 * b;
            int qh = i32(w, o + 4);
            IntVector isum = IntVector.zero(IS);
            for (int h = 0; h < 16; h += L) {
                ShortVector q = bytesU(w, o + 8 + h);
                ShortVector lo = q.and((short) 0xF).or(highBits(qh, h));
                ShortVector hi = q.lanewise(VectorOperators.LSHR, four).or(highBits(qh, 16 + h));
                ShortVector p = lo.mul(ShortVector.fromArray(SS, a.q8, e + h)).add(hi.mul(ShortVector.fromArray(SS, a.q8, e + 16 + h)));
                isum = isum.add(widen(p));
            }
            float dx = a.q8d[e / 32];
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, f16(w, o) * dx), acc);
            mins += f16(w, o + 2) * (dx * a.q8sum[e / 32]);
        }
        return sum(acc) + mins;
    }

    static float dotQ8_0(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < cols / 32; b++, o += 34) {
            int e = xo + 32 * b;
            IntVector isum = IntVector.zero(IS);
            for (int h = 0; h < 32; h += 2 * L) {
                ShortVector p = bytesS(w, o + 2 + h).mul(ShortVector.fromArray(SS, a.q8, e + h))
                        .add(bytesS(w, o + 2 + h + L).mul(ShortVector.fromArray(SS, a.q8, e + h + L)));
                isum = isum.add(widen(p));
            }
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, f16(w, o) * a.q8d[e / 32]), acc);
        }
        return sum(acc);
    }

    // ---- 256-element blocks against Q8_K activations ----
    // Cost per 16 or 32 weights of one scale: unpack (2-6 bit ops), one short multiply with the activation, one
    // widening to ints, one int multiply by the sub-block scale, one add; per block one conversion and one FMA.
    // Mins and the constant offsets (-4 in Q3_K, -32 in Q6_K) use the activation's sums per 16 (bsums), scalar.

    static float dotQ2_K(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        float mins = 0;
        for (int b = 0; b < cols / 256; b++, o += 84) {
            int e = xo + 256 * b;
            int kb = e / 256;
            IntVector isum = IntVector.zero(IS);
            int m = 0;
            for (int g = 0; g < 16; g++) {
                int sc = u8(w, o + g);
                m += (sc >>> 4) * a.qkSum[16 * kb + g];
                int half = g >>> 3, shift = 2 * ((g & 7) >>> 1), part = g & 1;
                int q = o + 16 + 32 * half + 16 * part;
                for (int l = 0; l < 16; l += L) {
                    ShortVector v = bytesU(w, q + l).lanewise(VectorOperators.LSHR, shift).and((short) 3);
                    isum = isum.add(widen(v.mul(ShortVector.fromArray(SS, a.qk, e + 16 * g + l))).mul(sc & 0xF));
                }
            }
            float dx = a.qkd[kb];
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, dx * f16(w, o + 80)), acc);
            mins += dx * f16(w, o + 82) * m;
        }
        return sum(acc) - mins;
    }

    static float dotQ3_K(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        float offset = 0;
        for (int b = 0; b < cols / 256; b++, o += 110) {
            int e = xo + 256 * b;
            int kb = e / 256;
            IntVector isum = IntVector.zero(IS);
            int corr = 0;
            for (int g = 0; g < 16; g++) {
                int half = g >>> 3, j = (g & 7) >>> 1, part = g & 1;
                int sc = q3KScale(w, o + 96, g);
                corr += sc * a.qkSum[16 * kb + g];
                int q = o + 32 + 32 * half + 16 * part;
                int hm = o + 16 * part;
                int hbit = 4 * half + j;
                for (int l = 0; l < 16; l += L) {
                    ShortVector lo = bytesU(w, q + l).lanewise(VectorOperators.LSHR, 2 * j).and((short) 3);
                    ShortVector hi = bytesU(w, hm + l).lanewise(VectorOperators.LSHR, hbit).and((short) 1);
                    ShortVector v = lo.or(hi.lanewise(VectorOperators.LSHL, 2)); // q + 4, in 0..7
                    isum = isum.add(widen(v.mul(ShortVector.fromArray(SS, a.qk, e + 16 * g + l))).mul(sc));
                }
            }
            float d = a.qkd[kb] * f16(w, o + 108);
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, d), acc);
            offset += d * (4 * corr);
        }
        return sum(acc) - offset;
    }

    /**
     * The 8 scales (bytes of the first two ints) and 8 mins (bytes of the last two) of the Q4_K/Q5_K block whose
     * 12 packed scale bytes start at {@code sc}, unpacked with 32-bit masks as ggml does; returned in {@code u}.
     */
    private static void unpackKScales(byte[] w, int sc, int[] u) {
        int u0 = i32(w, sc), u1 = i32(w, sc + 4), u2 = i32(w, sc + 8);
        u[3] = ((u2 >>> 4) & 0x0F0F0F0F) | (((u1 >>> 6) & 0x03030303) << 4);
        u[2] = u1 & 0x3F3F3F3F;
        u[1] = (u2 & 0x0F0F0F0F) | (((u0 >>> 6) & 0x03030303) << 4);
        u[0] = u0 & 0x3F3F3F3F;
    }

    /**
     * Q4_K: per 32 bytes (sub-blocks 2i and 2i+1 in the low and high nibbles), 16-bit sums of q x (at most
     * 32 * 15 * 127 / L per lane), widened once per sub-block and multiplied by its 6-bit scale; mins from the
     * activation's sums per 16. Cost per 64 weights: 64/L loads, 2 masks/shifts and 2 short multiplies per L, then
     * 2 widenings, 2 int multiplies and 2 adds; scales unpacked with 32-bit masks once per block.
     */
    static float dotQ4_K(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        ShortVector four = ShortVector.broadcast(SS, (short) 4);
        int[] u = new int[4];
        float mins = 0;
        for (int b = 0; b < cols / 256; b++, o += 144) {
            int e = xo + 256 * b;
            int kb = e / 256;
            unpackKScales(w, o + 4, u);
            IntVector isum = IntVector.zero(IS);
            int m = 0;
            for (int j = 0; j < 8; j++) {
                int mn = (u[2 + (j >>> 2)] >>> (8 * (j & 3))) & 0xFF;
                m += mn * (a.qkSum[16 * kb + 2 * j] + a.qkSum[16 * kb + 2 * j + 1]);
            }
            for (int i = 0; i < 4; i++) {
                int q = o + 16 + 32 * i;
                int x0 = e + 64 * i;
                ShortVector s0 = ShortVector.zero(SS), s1 = ShortVector.zero(SS);
                for (int l = 0; l < 32; l += L) {
                    ShortVector v = bytesU(w, q + l);
                    s0 = s0.add(v.and((short) 0xF).mul(ShortVector.fromArray(SS, a.qk, x0 + l)));
                    s1 = s1.add(v.lanewise(VectorOperators.LSHR, four).mul(ShortVector.fromArray(SS, a.qk, x0 + 32 + l)));
                }
                int sc = u[i >>> 1] >>> (16 * (i & 1));
                isum = isum.add(widen(s0).mul(sc & 0xFF)).add(widen(s1).mul((sc >>> 8) & 0xFF));
            }
            float dx = a.qkd[kb];
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, dx * f16(w, o)), acc);
            mins += dx * f16(w, o + 2) * m;
        }
        return sum(acc) - mins;
    }

    static float dotQ5_K(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        float mins = 0;
        for (int b = 0; b < cols / 256; b++, o += 176) {
            int e = xo + 256 * b;
            int kb = e / 256;
            IntVector isum = IntVector.zero(IS);
            int m = 0;
            for (int i = 0; i < 4; i++) {
                int sc0 = kScale(w, o + 4, 2 * i), sc1 = kScale(w, o + 4, 2 * i + 1);
                m += kMin(w, o + 4, 2 * i) * (a.qkSum[16 * kb + 4 * i] + a.qkSum[16 * kb + 4 * i + 1])
                        + kMin(w, o + 4, 2 * i + 1) * (a.qkSum[16 * kb + 4 * i + 2] + a.qkSum[16 * kb + 4 * i + 3]);
                int q = o + 48 + 32 * i;
                int x0 = e + 64 * i;
                for (int l = 0; l < 32; l += L) {
                    ShortVector v = bytesU(w, q + l);
                    ShortVector hb = bytesU(w, o + 16 + l);
                    ShortVector v0 = v.and((short) 0xF).or(hb.lanewise(VectorOperators.LSHR, 2 * i).and((short) 1).lanewise(VectorOperators.LSHL, 4));
                    ShortVector v1 = v.lanewise(VectorOperators.LSHR, 4).or(hb.lanewise(VectorOperators.LSHR, 2 * i + 1).and((short) 1).lanewise(VectorOperators.LSHL, 4));
                    IntVector p0 = widen(v0.mul(ShortVector.fromArray(SS, a.qk, x0 + l)));
                    IntVector p1 = widen(v1.mul(ShortVector.fromArray(SS, a.qk, x0 + 32 + l)));
                    isum = isum.add(p0.mul(sc0)).add(p1.mul(sc1));
                }
            }
            float dx = a.qkd[kb];
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, dx * f16(w, o)), acc);
            mins += dx * f16(w, o + 2) * m;
        }
        return sum(acc) - mins;
    }

    /**
     * Q6_K in two steps, each a small compiled loop: {@link #unpackQ6_K} writes the row's values {@code q - 32} as
     * shorts once (shared by the n inputs), then this dots them per group of 16 with the group's int8 scale. (One
     * fused loop is past C2's inlining budget and falls back to boxed vectors, 10x slower.)
     * Cost per 16 weights: two loads, one short multiply (|q - 32| x 127 fits a short), one widening, one int
     * multiply, one add; the unpacking costs about 4 vector ops per 16 weights.
     */
    static float dotQ6_K(byte[] w, short[] q, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < cols / 256; b++) {
            int e = xo + 256 * b, o = 210 * b;
            IntVector isum = IntVector.zero(IS);
            for (int g = 0; g < 16; g++) {
                ShortVector s = ShortVector.zero(SS);
                for (int l = 0; l < 16; l += L) {
                    s = s.add(ShortVector.fromArray(SS, q, 256 * b + 16 * g + l).mul(ShortVector.fromArray(SS, a.qk, e + 16 * g + l)));
                }
                isum = isum.add(widen(s).mul(w[o + 192 + g]));
            }
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, a.qkd[e / 256] * f16(w, o + 208)), acc);
        }
        return sum(acc);
    }

    /** The values {@code q - 32} (-32..31) of a Q6_K row copy, in element order, into {@code q[0..cols)}. */
    static void unpackQ6_K(byte[] w, int cols, short[] q) {
        ShortVector two = ShortVector.broadcast(SS, (short) 2), four = ShortVector.broadcast(SS, (short) 4);
        for (int b = 0; b < cols / 256; b++) {
            for (int half = 0; half < 2; half++) {
                int ql = 210 * b + 64 * half, qh = 210 * b + 128 + 32 * half, e = 256 * b + 128 * half;
                for (int l = 0; l < 32; l += L) {
                    // Elements l.. of the four quarters share the bytes ql[l], ql[l+32] and qh[l].
                    ShortVector lo = bytesU(w, ql + l), hi = bytesU(w, ql + l + 32), h = bytesU(w, qh + l);
                    lo.and((short) 0xF).or(h.and((short) 3).lanewise(VectorOperators.LSHL, four)).sub((short) 32).intoArray(q, e + l);
                    hi.and((short) 0xF).or(h.and((short) 0xC).lanewise(VectorOperators.LSHL, two)).sub((short) 32).intoArray(q, e + 32 + l);
                    lo.lanewise(VectorOperators.LSHR, four).or(h.and((short) 0x30)).sub((short) 32).intoArray(q, e + 64 + l);
                    hi.lanewise(VectorOperators.LSHR, four).or(h.lanewise(VectorOperators.LSHR, two).and((short) 0x30))
                            .sub((short) 32).intoArray(q, e + 96 + l);
                }
            }
        }
    }

    static float dotQ8_K(byte[] w, int o, int cols, ActivationCache a, int xo) {
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < cols / 256; b++, o += 292) {
            int e = xo + 256 * b;
            IntVector isum = IntVector.zero(IS);
            for (int h = 0; h < 256; h += 2 * L) {
                ShortVector p = bytesS(w, o + 4 + h).mul(ShortVector.fromArray(SS, a.qk, e + h))
                        .add(bytesS(w, o + 4 + h + L).mul(ShortVector.fromArray(SS, a.qk, e + h + L)));
                isum = isum.add(widen(p));
            }
            acc = toFloat(isum).fma(FloatVector.broadcast(FS, f32(w, o) * a.qkd[e / 256]), acc);
        }
        return sum(acc);
    }
}
