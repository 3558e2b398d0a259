package io.strata.engine.cpu;

import io.strata.engine.gguf.GgufFile;
import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Matrix products: the vector kernels against their scalar twins (same integer sums, so only float summation order
 * differs), and both against dequantize-then-f32 products (differing by the activation's quantization), on random
 * weights of every type and on llama.cpp-quantized fixture tensors, for single inputs and batches, with 1 and 3
 * threads and row counts that do not divide evenly.
 */
class MatMulTest {

    static MatMul one;
    static MatMul three;

    @BeforeAll
    static void start() {
        one = new MatMul(1);
        three = new MatMul(3);
    }

    @AfterAll
    static void stop() {
        one.close();
        three.close();
    }

    static Tensor randomTensor(GgmlType type, int cols, int rows, long seed) {
        float[] w = DequantTest.gaussian(seed, cols * rows);
        byte[] data = Quantize.quantize(type, w, 0, w.length);
        return new Tensor("w" + seed, type, new long[]{cols, rows}, MemorySegment.ofArray(data));
    }

    /** f32 product of the dequantized weights with the f32 input, in double: what the kernels approximate. */
    static double[] reference(Tensor w, float[] x, int n) {
        int cols = w.cols(), rows = w.rows();
        float[] row = new float[cols];
        double[] out = new double[n * rows];
        for (int r = 0; r < rows; r++) {
            Dequant.dequantizeRow(w.type(), w.data(), r * w.rowBytes(), row, 0, cols);
            for (int i = 0; i < n; i++) {
                double s = 0;
                for (int c = 0; c < cols; c++) s += (double) row[c] * x[i * cols + c];
                out[i * rows + r] = s;
            }
        }
        return out;
    }

    /** Scale of one output: |row| * |x_i| / sqrt(cols), the size of a dot product of unrelated vectors. */
    static double scale(Tensor w, float[] x, int n, int r, int i) {
        int cols = w.cols();
        float[] row = new float[cols];
        Dequant.dequantizeRow(w.type(), w.data(), r * w.rowBytes(), row, 0, cols);
        double ww = 0, xx = 0;
        for (int c = 0; c < cols; c++) {
            ww += (double) row[c] * row[c];
            xx += (double) x[i * cols + c] * x[i * cols + c];
        }
        return Math.sqrt(ww * xx / cols) + 1e-30;
    }

    /**
     * Standard deviation of the error that quantizing input {@code i} to 8 bits (blocks of 32 or 256, step
     * {@code amax/127}, rounding error uniform in a step) puts on output {@code r}: sqrt(sum w^2 step^2 / 12).
     */
    static double activationNoise(Tensor w, float[] x, int r, int i) {
        GgmlType act = MatMul.activationOf(w.type());
        if (act == GgmlType.F32) return 0;
        int cols = w.cols(), block = act.blockSize;
        float[] row = new float[cols];
        Dequant.dequantizeRow(w.type(), w.data(), r * w.rowBytes(), row, 0, cols);
        double v = 0;
        if (act == GgmlType.F16 || act == GgmlType.BF16) {
            // Rounding to F16 (10 stored mantissa bits) or BF16 (7): step = 2^(exponent - bits) per value.
            int bits = act == GgmlType.F16 ? 10 : 7;
            for (int c = 0; c < cols; c++) {
                float xc = x[i * cols + c];
                double step = Math.scalb(1.0, Math.max(Math.getExponent(xc), -14) - bits);
                v += (double) row[c] * row[c] * step * step / 12;
            }
            return Math.sqrt(v);
        }
        for (int b = 0; b < cols; b += block) {
            float amax = 0;
            for (int c = b; c < b + block; c++) amax = Math.max(amax, Math.abs(x[i * cols + c]));
            double step = amax / 127.0;
            for (int c = b; c < b + block; c++) v += (double) row[c] * row[c] * step * step / 12;
        }
        return Math.sqrt(v);
    }

    static void check(Tensor w, float[] x, int n, String what) {
        int rows = w.rows();
        double[] ref = reference(w, x, n);
        float[] vec = new float[n * rows + 5];
        float[] sca = new float[n * rows + 5];
        float[] vec3 = new float[n * rows + 5];
        ActivationCache cache = new ActivationCache();
        one.matmul(w, x, n, vec, cache, false);
        one.matmul(w, x, n, sca, cache, true);
        three.matmul(w, x, n, vec3, new ActivationCache(), false);
        // Against the reference: 6 standard deviations of the noise of the activation's conversion (8-bit blocks for
        // quantized weights, F16 / BF16 rounding for F16 / BF16 weights, none for F32), plus float rounding.
        for (int i = 0; i < n; i++) {
            for (int r = 0; r < rows; r++) {
                int k = i * rows + r;
                double s = scale(w, x, n, r, i);
                String at = what + " " + w + " n=" + n + " input " + i + " row " + r;
                assertTrue(Math.abs(vec[k] - sca[k]) <= 2e-5 * s * Math.sqrt(w.cols()), at + ": vector " + vec[k] + " scalar " + sca[k]);
                double tolRef = 6 * activationNoise(w, x, r, i) + 1e-5 * s;
                assertTrue(Math.abs(sca[k] - ref[k]) <= tolRef, at + ": scalar " + sca[k] + " reference " + ref[k] + ", tolerance " + tolRef);
                assertEquals(vec[k], vec3[k], at + ": 3 threads differ from 1");
            }
        }
        for (int k = n * rows; k < vec.length; k++) assertEquals(0f, vec[k], what + ": wrote past n*rows");
        // Batched decode and chunked prefill rely on this: an input's result does not depend on the others beside it.
        for (int i = 0; n > 1 && i < n; i++) {
            float[] alone = new float[rows];
            one.matmul(w, java.util.Arrays.copyOfRange(x, i * w.cols(), (i + 1) * w.cols()), 1, alone, new ActivationCache(), false);
            for (int r = 0; r < rows; r++) {
                assertEquals(alone[r], vec[i * rows + r], what + " " + w + " n=" + n + " input " + i + " row " + r + ": batched differs from alone");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void vectorMatchesScalarAndReference(GgmlType type) {
        int base = type.blockSize == 256 ? 256 : 64;
        for (int[] shape : new int[][]{{base, 1}, {base, 37}, {4 * base, 70}, {2 * base + (base == 64 ? 32 : 256), 13}}) {
            int cols = shape[0], rows = shape[1];
            if (cols % type.blockSize != 0) continue;
            Tensor w = randomTensor(type, cols, rows, 31L * cols + rows + type.id);
            for (int n : new int[]{1, 3}) {
                float[] x = DequantTest.gaussian(7 * n + cols, n * cols);
                check(w, x, n, "random");
            }
        }
    }

    /** The interleaved (prepared) path against the scalar row-major twin and the reference. */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    void preparedMatchesScalarAndReference(GgmlType type) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            for (int[] shape : new int[][]{{256, 1}, {256, 37}, {1280, 70}, {2304, 33}, {256, 64}, {512, 130}}) {
                int cols = shape[0], rows = shape[1];
                Tensor w = randomTensor(type, cols, rows, 17L * cols + rows + type.id);
                assertTrue(one.prepare(w, arena));
                assertTrue(three.prepare(w, arena));
                // The integer passes take inputs four at a time (Q4_0 and Q4_K on a pair of groups), then two, then
                // one: n = 4, 5, 6, 3 leave every remainder mod 4, 9 goes 4 + 4 + 1. Short passes up to SHORT_N (Q4_0)
                // or SHORT_N_K inputs, long ones above. Groups: 37 and 33 rows make one pair, 70 a pair and a single
                // group, 1 a single group; three threads split the groups differently again.
                for (int n : new int[]{1, 2, 3, 4, 5, 6, 9}) {
                    float[] x = DequantTest.gaussian(11 * n + cols, n * cols);
                    check(w, x, n, "prepared");
                }
            }
            one.clearPrepared();
            three.clearPrepared();
        }
    }

    /** The interleaved kernels' f16 scale conversion, on every finite f16 (normal, subnormal, both zeros). */
    @Test
    void halvesToFloatsConvertsEveryFiniteHalf() {
        int r = InterleavedKernels.R;
        MemorySegment in = MemorySegment.ofArray(new short[r]);
        float[] out = new float[r];
        for (int base = 0; base < 1 << 16; base += r) {
            for (int lane = 0; lane < r; lane++) in.setAtIndex(Dequant.I16, lane, (short) (base + lane));
            InterleavedKernels.halvesToFloats(in, 0, 0, 1, out, 0);
            for (int lane = 0; lane < r; lane++) {
                short h = (short) (base + lane);
                if ((h & 0x7C00) == 0x7C00) continue; // infinities and NaNs: refused by Repacked
                // Lane 2k holds row k, lane 2k+1 row R/2 + k.
                int row = (lane & 1) == 0 ? lane >>> 1 : r / 2 + (lane >>> 1);
                assertEquals(Float.floatToRawIntBits(Float.float16ToFloat(h)), Float.floatToRawIntBits(out[row]),
                        "f16 0x" + Integer.toHexString(h & 0xFFFF));
            }
        }
    }

    @Test
    void prepareDeclinesWhatItCannotInterleave() {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            assertTrue(!one.prepare(randomTensor(GgmlType.F16, 64, 40, 3), arena), "F16 has no interleaved layout");
            // An infinite block scale: the interleaved kernels assume finite scales, so the tensor stays row-major.
            Tensor w = randomTensor(GgmlType.Q4_0, 64, 40, 4);
            MemorySegment copy = arena.allocate(w.data().byteSize());
            copy.copyFrom(w.data());
            copy.set(Dequant.I16, 18L * 7, Float.floatToFloat16(Float.POSITIVE_INFINITY));
            assertTrue(!one.prepare(new Tensor("inf", GgmlType.Q4_0, new long[]{64, 40}, copy), arena));
        }
        try (java.lang.foreign.Arena confined = java.lang.foreign.Arena.ofConfined()) {
            var e = assertThrows(IllegalArgumentException.class, () -> three.prepare(randomTensor(GgmlType.Q8_0, 64, 40, 5), confined));
            assertTrue(e.getMessage().contains("shared"), e.getMessage());
        }
        one.clearPrepared();
        three.clearPrepared();
    }

    @Test
    void llamaCppTensorsOfEveryWeightType() {
        Set<GgmlType> seen = EnumSet.noneOf(GgmlType.class);
        for (String f : List.of("tiny/tiny-F32.gguf", "tiny/tiny-F16.gguf", "tiny/tiny-BF16.gguf", "tiny/tiny-Q4_1.gguf",
                "tiny/tiny-Q5_1.gguf", "tiny/tiny-Q4_K_M.gguf", "kq/kq-Q4_0.gguf", "kq/kq-Q8_0.gguf", "kq/kq-Q4_K_M.gguf",
                "kq/kq-Q2_K.gguf", "kq/kq-Q3_K_M.gguf", "kq/kq-Q5_K_M.gguf")) {
            try (GgufFile g = GgufFile.open(DequantTest.fixtures().resolve(f))) {
                for (String name : g.tensorInfos().keySet()) {
                    Tensor t = g.tensor(name);
                    if (t.shape().length < 2 || seen.contains(t.type()) && !name.startsWith("blk.1.ffn_down")) continue;
                    // The first 40 rows are enough and keep the test fast.
                    int rows = Math.min(40, t.rows());
                    Tensor part = new Tensor(t.name(), t.type(), new long[]{t.cols(), rows}, t.data().asSlice(0, rows * t.rowBytes()));
                    float[] x = DequantTest.gaussian(name.hashCode(), 2 * t.cols());
                    check(part, x, 2, f);
                    try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
                        if (one.prepare(part, arena)) {
                            assertTrue(three.prepare(part, arena));
                            check(part, x, 2, f + " prepared");
                        }
                        one.clearPrepared();
                        three.clearPrepared();
                    }
                    seen.add(t.type());
                }
            }
        }
        Set<GgmlType> missing = EnumSet.allOf(GgmlType.class);
        missing.removeAll(seen);
        assertEquals(EnumSet.of(GgmlType.Q8_K), missing);
    }

    @Test
    void activationFormsFollowGgml() {
        float[] x = DequantTest.gaussian(3, 512);
        ActivationCache c = new ActivationCache();
        c.quantizeQ8_K(x, 2, 256);
        byte[] ref = Quantize.quantize(GgmlType.Q8_K, x, 0, 512);
        MemorySegment s = MemorySegment.ofArray(ref);
        for (int b = 0; b < 2; b++) {
            assertEquals(s.get(Dequant.F32, 292L * b), c.qkd[b]);
            for (int j = 0; j < 256; j++) assertEquals(ref[292 * b + 4 + j], c.qk[256 * b + j]);
            for (int g = 0; g < 16; g++) assertEquals(s.get(Dequant.I16, 292L * b + 260 + 2 * g), c.qkSum[16 * b + g]);
        }
        c.quantizeQ8_0(x, 1, 512);
        for (int b = 0; b < 16; b++) {
            float amax = 0;
            int sum = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]));
            for (int j = 0; j < 32; j++) {
                assertEquals(Math.rint(x[32 * b + j] * 127 / amax), c.q8[32 * b + j], 1.0);
                sum += c.q8[32 * b + j];
            }
            assertEquals(sum, c.q8sum[b]);
            assertEquals(amax / 127, c.q8d[b], amax / 127 / 1000);
        }
    }

    @Test
    void cacheIsReusedUntilInvalidated() {
        Tensor w = randomTensor(GgmlType.Q8_0, 64, 8, 1);
        float[] x = DequantTest.gaussian(5, 64);
        ActivationCache c = new ActivationCache();
        float[] a = new float[8], b = new float[8];
        one.matmul(w, x, 1, a, c);
        x[0] += 10; // the owner forgets to invalidate: the stale quantized form is used
        one.matmul(w, x, 1, b, c);
        assertArrayEquals(a, b);
        c.invalidate();
        one.matmul(w, x, 1, b, c);
        assertTrue(a[0] != b[0]);
    }

    @Test
    void rejectsBadShapes() {
        Tensor w = randomTensor(GgmlType.Q4_0, 64, 4, 2);
        ActivationCache c = new ActivationCache();
        var e = assertThrows(IllegalArgumentException.class, () -> one.matmul(w, new float[63], 1, new float[4], c));
        assertTrue(e.getMessage().contains("w2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> one.matmul(w, new float[64], 1, new float[3], c));
        assertThrows(IllegalArgumentException.class, () -> one.embedRow(w, 4, new float[64], 0));
        float[] row = new float[64];
        one.embedRow(w, 3, row, 0);
        float[] ref = new float[64];
        Dequant.dequantizeRow(GgmlType.Q4_0, w.data(), 3 * w.rowBytes(), ref, 0, 64);
        assertArrayEquals(ref, row);
    }
}
