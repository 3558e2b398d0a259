package io.strata.engine.cpu;

import io.strata.engine.gguf.GgufFile;
import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scalar reference dequantizers and quantizers: layouts pinned, round trips bounded, and agreement with
 * tensors that llama.cpp itself quantized (the fixtures).
 */
class DequantTest {

    static Path fixtures() {
        String dir = System.getProperty("strata.fixtures");
        assertTrue(dir != null, "system property strata.fixtures is not set");
        return Path.of(dir);
    }

    @Test
    void blockLayoutsHaveGgmlSizes() {
        // ggml-common.h: sizeof(block_*) and QK_*.
        Map<GgmlType, int[]> expected = Map.ofEntries(
                Map.entry(GgmlType.F32, new int[]{1, 4}), Map.entry(GgmlType.F16, new int[]{1, 2}),
                Map.entry(GgmlType.BF16, new int[]{1, 2}), Map.entry(GgmlType.Q4_0, new int[]{32, 2 + 16}),
                Map.entry(GgmlType.Q4_1, new int[]{32, 4 + 16}), Map.entry(GgmlType.Q5_0, new int[]{32, 2 + 4 + 16}),
                Map.entry(GgmlType.Q5_1, new int[]{32, 4 + 4 + 16}), Map.entry(GgmlType.Q8_0, new int[]{32, 2 + 32}),
                Map.entry(GgmlType.Q2_K, new int[]{256, 16 + 64 + 4}), Map.entry(GgmlType.Q3_K, new int[]{256, 32 + 64 + 12 + 2}),
                Map.entry(GgmlType.Q4_K, new int[]{256, 4 + 12 + 128}), Map.entry(GgmlType.Q5_K, new int[]{256, 4 + 12 + 32 + 128}),
                Map.entry(GgmlType.Q6_K, new int[]{256, 128 + 64 + 16 + 2}), Map.entry(GgmlType.Q8_K, new int[]{256, 4 + 256 + 32}));
        for (GgmlType t : GgmlType.values()) {
            int[] e = expected.get(t);
            assertEquals(e[0], t.blockSize, t + " block size");
            assertEquals(e[1], t.typeSize, t + " bytes per block");
            assertEquals(e[1], Quantize.quantize(t, new float[e[0]], 0, e[0]).length, t + " quantized block length");
        }
    }

    @Test
    void handMadeBlocksDecodeAsGgmlDefines() {
        // Q4_0: d = 2, qs[j] = j | (15 - j) << 4: element j = 2 * (j - 8), element j + 16 = 2 * (7 - j).
        byte[] b = new byte[18];
        MemorySegment s = MemorySegment.ofArray(b);
        s.set(Dequant.I16, 0, Float.floatToFloat16(2f));
        for (int j = 0; j < 16; j++) b[2 + j] = (byte) (j | ((15 - j) << 4));
        float[] y = new float[32];
        Dequant.dequantizeRow(GgmlType.Q4_0, s, 0, y, 0, 32);
        for (int j = 0; j < 16; j++) {
            assertEquals(2f * (j - 8), y[j]);
            assertEquals(2f * (7 - j), y[j + 16]);
        }
        // Q5_0: the same nibbles, qh bit j set for even j only: element j gains 16 when j is even, element j+16 when j is even.
        b = new byte[22];
        s = MemorySegment.ofArray(b);
        s.set(Dequant.I16, 0, Float.floatToFloat16(0.5f));
        s.set(Dequant.I32, 2, 0x55555555);
        for (int j = 0; j < 16; j++) b[6 + j] = (byte) (j | ((15 - j) << 4));
        Dequant.dequantizeRow(GgmlType.Q5_0, s, 0, y, 0, 32);
        for (int j = 0; j < 16; j++) {
            int h = (j % 2 == 0) ? 16 : 0;
            assertEquals(0.5f * ((j | h) - 16), y[j]);
            assertEquals(0.5f * (((15 - j) | h) - 16), y[j + 16]);
        }
        // Q6_K: d = 1, scales[i] = i + 1, ql = 0x21 everywhere, qh = 0b11100100: the four quarters of each half get
        // q = (1 | 0 << 4) - 32, (1 | 1 << 4) - 32, (2 | 2 << 4) - 32, (2 | 3 << 4) - 32.
        b = new byte[210];
        s = MemorySegment.ofArray(b);
        for (int i = 0; i < 128; i++) b[i] = 0x21;
        for (int i = 0; i < 64; i++) b[128 + i] = (byte) 0b11100100;
        for (int i = 0; i < 16; i++) b[192 + i] = (byte) (i + 1);
        s.set(Dequant.I16, 208, Float.floatToFloat16(1f));
        y = new float[256];
        Dequant.dequantizeRow(GgmlType.Q6_K, s, 0, y, 0, 256);
        int[] q = {1 - 32, 17 - 32, 34 - 32, 50 - 32};
        for (int e = 0; e < 256; e++) {
            int scale = e / 16 + 1;
            assertEquals((float) scale * q[(e % 128) / 32], y[e], "Q6_K element " + e);
        }
    }

    /** Relative rms error bound of quantize then dequantize on Gaussian data with a few outliers, per type. */
    static double roundTripBound(GgmlType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 2.6e-4;
            case BF16 -> 2e-3;
            case Q8_0 -> 0.0075;
            case Q8_K -> 0.014;
            case Q4_0 -> 0.125;
            case Q4_1 -> 0.10;
            case Q5_0 -> 0.065;
            case Q5_1 -> 0.053;
            case Q2_K -> 0.42;
            case Q3_K -> 0.21;
            case Q4_K -> 0.10;
            case Q5_K -> 0.05;
            case Q6_K -> 0.025;
        };
    }

    static float[] gaussian(long seed, int n) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < n / 97; i++) x[r.nextInt(n)] *= 4; // outliers, as real weights have
        return x;
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void quantizeDequantizeRoundTrip(GgmlType t) {
        int n = 4096;
        float[] x = gaussian(t.id, n);
        byte[] q = Quantize.quantize(t, x, 0, n);
        assertEquals(t.byteSize(n), q.length);
        float[] y = new float[n + 3];
        Dequant.dequantizeRow(t, MemorySegment.ofArray(q), 0, y, 3, n);
        double err = 0, ref = 0;
        for (int i = 0; i < n; i++) {
            double e = x[i] - y[i + 3];
            err += e * e;
            ref += (double) x[i] * x[i];
        }
        double rel = Math.sqrt(err / ref);
        System.out.println("round trip " + t + " relative rms error " + rel);
        assertTrue(rel <= roundTripBound(t), t + ": relative rms error " + rel + " > " + roundTripBound(t));
        // All-zero input is exact (no NaN from a zero scale).
        float[] zeros = new float[t.blockSize * 2];
        float[] back = new float[zeros.length];
        Dequant.dequantizeRow(t, MemorySegment.ofArray(Quantize.quantize(t, zeros, 0, zeros.length)), 0, back, 0, zeros.length);
        assertArrayEquals(zeros, back, 0f, t + " zeros");
    }

    @Test
    void bf16RoundsToNearestEvenAndKeepsNaN() {
        assertEquals(0x3F80, Quantize.floatToBf16(1.0f) & 0xFFFF);
        assertEquals(0x3F80, Quantize.floatToBf16(Float.intBitsToFloat(0x3F808000)) & 0xFFFF); // tie -> even
        assertEquals(0x3F82, Quantize.floatToBf16(Float.intBitsToFloat(0x3F818000)) & 0xFFFF); // tie -> even (up)
        assertEquals(0x3F81, Quantize.floatToBf16(Float.intBitsToFloat(0x3F808001)) & 0xFFFF);
        assertTrue(Float.isNaN(Dequant.bf16ToFloat(Quantize.floatToBf16(Float.NaN))));
        assertEquals(Float.POSITIVE_INFINITY, Dequant.bf16ToFloat(Quantize.floatToBf16(Float.POSITIVE_INFINITY)));
    }

    static float[] dequantizeAll(Tensor t) {
        float[] out = new float[Math.toIntExact(t.elements())];
        int cols = t.cols();
        for (int r = 0; r < t.rows(); r++) Dequant.dequantizeRow(t.type(), t.data(), r * t.rowBytes(), out, r * cols, cols);
        return out;
    }

    /** Relative rms distance of llama.cpp's quantization from the original, per type (llama.cpp's quantizers, imatrix-free). */
    static double llamaCppBound(GgmlType t) {
        return switch (t) {
            case F32 -> 1e-7;
            case F16 -> 2.6e-4;
            case BF16 -> 2.1e-3;
            case Q8_0, Q8_K -> 0.007;
            case Q4_0 -> 0.105;
            case Q4_1 -> 0.095;
            case Q5_0 -> 0.053;
            case Q5_1 -> 0.046;
            case Q2_K -> 0.35;
            case Q3_K -> 0.18;
            case Q4_K -> 0.085;
            case Q5_K -> 0.044;
            case Q6_K -> 0.022;
        };
    }

    /**
     * Dequantizes every tensor of llama.cpp-quantized fixtures and compares with the unquantized original (tiny: the
     * F32 file; kq: its Q8_0 file, 0.4% from F32). A wrong layout (element order, scale packing, sign) gives relative
     * errors near 1 or above; a right one the quantization noise of its type.
     */
    @Test
    void dequantizedLlamaCppTensorsMatchTheOriginal() {
        Set<GgmlType> seen = EnumSet.noneOf(GgmlType.class);
        List<String> report = new ArrayList<>();
        compareWith("tiny/tiny-F32.gguf", List.of("tiny/tiny-F16.gguf", "tiny/tiny-BF16.gguf", "tiny/tiny-Q8_0.gguf",
                "tiny/tiny-Q4_0.gguf", "tiny/tiny-Q4_1.gguf", "tiny/tiny-Q5_1.gguf", "tiny/tiny-Q4_K_M.gguf"), 0, seen, report);
        compareWith("kq/kq-Q8_0.gguf", List.of("kq/kq-Q4_0.gguf", "kq/kq-Q4_K_M.gguf", "kq/kq-Q6_K.gguf",
                "kq/kq-Q2_K.gguf", "kq/kq-Q3_K_M.gguf", "kq/kq-Q5_K_M.gguf"), 0.005, seen, report);
        Set<GgmlType> all = EnumSet.allOf(GgmlType.class);
        all.remove(GgmlType.Q8_K); // activation-only type: no file holds it
        all.remove(GgmlType.Q5_0);
        all.removeAll(seen);
        report.forEach(System.out::println);
        assertTrue(all.isEmpty(), "types with no llama.cpp tensor checked: " + all + "\n" + String.join("\n", report));
        assertTrue(seen.contains(GgmlType.Q5_0), "tiny-Q4_K_M should hold Q5_0 tensors");
    }

    private void compareWith(String refFile, List<String> files, double refNoise, Set<GgmlType> seen, List<String> report) {
        try (GgufFile ref = GgufFile.open(fixtures().resolve(refFile))) {
            for (String f : files) {
                try (GgufFile q = GgufFile.open(fixtures().resolve(f))) {
                    for (String name : q.tensorInfos().keySet()) {
                        Tensor t = q.tensor(name);
                        float[] want = dequantizeAll(ref.tensor(name));
                        float[] got = dequantizeAll(t);
                        double err = 0, norm = 0;
                        for (int i = 0; i < want.length; i++) {
                            double e = want[i] - got[i];
                            err += e * e;
                            norm += (double) want[i] * want[i];
                        }
                        double rel = Math.sqrt(err / norm);
                        double bound = llamaCppBound(t.type()) + refNoise;
                        report.add(f + " " + t + " rel " + rel);
                        assertTrue(rel <= bound, f + " " + t + ": relative rms distance " + rel + " from " + refFile + " > " + bound);
                        seen.add(t.type());
                    }
                }
            }
        }
    }

    /**
     * For the types whose quantizer follows ggml's reference step by step, quantizing the F32 original must give
     * exactly llama.cpp's bytes (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 tensors of the tiny fixtures).
     */
    @Test
    void referenceQuantizersWriteLlamaCppBytes() {
        Set<GgmlType> exact = EnumSet.of(GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
                GgmlType.Q5_0, GgmlType.Q5_1);
        Set<GgmlType> checked = new HashSet<>();
        try (GgufFile ref = GgufFile.open(fixtures().resolve("tiny/tiny-F32.gguf"))) {
            for (String f : List.of("tiny/tiny-F16.gguf", "tiny/tiny-BF16.gguf", "tiny/tiny-Q8_0.gguf", "tiny/tiny-Q4_0.gguf",
                    "tiny/tiny-Q4_1.gguf", "tiny/tiny-Q5_1.gguf", "tiny/tiny-Q4_K_M.gguf")) {
                try (GgufFile q = GgufFile.open(fixtures().resolve(f))) {
                    for (String name : q.tensorInfos().keySet()) {
                        Tensor t = q.tensor(name);
                        if (!exact.contains(t.type())) continue;
                        float[] x = dequantizeAll(ref.tensor(name));
                        byte[] mine = Quantize.quantize(t.type(), x, 0, x.length);
                        byte[] theirs = t.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                        assertArrayEquals(theirs, mine, f + " " + t + ": bytes differ from llama.cpp's");
                        checked.add(t.type());
                    }
                }
            }
        }
        assertEquals(exact, checked);
    }

    @Test
    void q8KKeepsBlockSums() {
        float[] x = gaussian(7, 512);
        byte[] q = Quantize.quantize(GgmlType.Q8_K, x, 0, 512);
        MemorySegment s = MemorySegment.ofArray(q);
        for (int b = 0; b < 2; b++) {
            for (int g = 0; g < 16; g++) {
                int sum = 0;
                for (int l = 0; l < 16; l++) sum += q[b * 292 + 4 + 16 * g + l];
                assertEquals(sum, s.get(Dequant.I16, b * 292 + 260 + 2L * g));
            }
        }
    }

    @Test
    void rejectsPartialBlocks() {
        float[] y = new float[40];
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Dequant.dequantizeRow(GgmlType.Q4_0, MemorySegment.ofArray(new byte[40]), 0, y, 0, 40));
        assertTrue(e.getMessage().contains("Q4_0"));
        assertTrue(Files.isDirectory(fixtures()));
    }
}
