package io.strata.engine.gguf;

import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GgufWriterTest {

    @TempDir
    Path dir;

    // ------------------------------------------------------------------ metadata

    @Test
    void everyValueTypeRoundTrips() {
        GgufWriter w = new GgufWriter()
                .put("u8", GgufValueType.UINT8, 255)
                .put("i8", GgufValueType.INT8, -128)
                .put("u16", GgufValueType.UINT16, 65535)
                .put("i16", GgufValueType.INT16, -32768)
                .put("u32", GgufValueType.UINT32, 4294967295L)
                .put("i32", GgufValueType.INT32, Integer.MIN_VALUE)
                .put("f32", GgufValueType.FLOAT32, -1.5e-7f)
                .put("f32.nan", GgufValueType.FLOAT32, Float.intBitsToFloat(0x7fc00123))
                .put("bool.t", GgufValueType.BOOL, true)
                .put("bool.f", GgufValueType.BOOL, false)
                .put("str", GgufValueType.STRING, "héllo 日本語 🦙")
                .put("str.empty", GgufValueType.STRING, "")
                .put("u64", GgufValueType.UINT64, 0xfedcba9876543210L) // above 2^63: the unsigned bits are kept
                .put("i64", GgufValueType.INT64, Long.MIN_VALUE)
                .put("f64", GgufValueType.FLOAT64, Math.PI)
                .putArray("a.u8", GgufValueType.UINT8, new int[]{0, 1, 255})
                .putArray("a.i8", GgufValueType.INT8, new int[]{-128, 0, 127})
                .putArray("a.u16", GgufValueType.UINT16, new int[]{0, 65535})
                .putArray("a.i16", GgufValueType.INT16, new int[]{-32768, 32767})
                .putArray("a.u32", GgufValueType.UINT32, new long[]{0, 4294967295L})
                .putArray("a.i32", GgufValueType.INT32, new int[]{Integer.MIN_VALUE, -1, Integer.MAX_VALUE})
                .putArray("a.f32", GgufValueType.FLOAT32, new float[]{1f, -0f, Float.POSITIVE_INFINITY})
                .putArray("a.bool", GgufValueType.BOOL, new boolean[]{true, false, true})
                .putArray("a.str", GgufValueType.STRING, new String[]{"a", "", "Ġthe", "<|eot_id|>"})
                .putArray("a.u64", GgufValueType.UINT64, new long[]{-1L, 0})
                .putArray("a.i64", GgufValueType.INT64, new long[]{Long.MIN_VALUE, Long.MAX_VALUE})
                .putArray("a.f64", GgufValueType.FLOAT64, new double[]{-0.0, 1e300})
                .putArray("a.empty", GgufValueType.INT32, new int[0])
                .putArray("a.nested", GgufValueType.ARRAY, new Metadata.Entry[]{
                        array(GgufValueType.UINT8, new int[]{7, 8}),
                        array(GgufValueType.STRING, new String[]{"x", "yz"}),
                        array(GgufValueType.ARRAY, new Metadata.Entry[]{array(GgufValueType.FLOAT64, new double[]{2.5})}),
                        array(GgufValueType.INT16, new int[0])});
        Path f = dir.resolve("all.gguf");
        w.write(f);
        try (GgufFile g = GgufFile.open(f)) {
            Metadata md = g.metadata();
            assertEquals(List.copyOf(w.metadata().keySet()), List.copyOf(md.keys()), "keys in write order");
            for (Map.Entry<String, Metadata.Entry> e : w.metadata().entrySet()) {
                assertSameEntry(e.getKey(), e.getValue(), md.entry(e.getKey()));
            }
            assertEquals(0, g.tensorInfos().size());
            assertEquals(Float.floatToRawIntBits(Float.intBitsToFloat(0x7fc00123)), Float.floatToRawIntBits((Float) md.get("f32.nan")));
            Metadata.Entry[] nested = (Metadata.Entry[]) md.get("a.nested");
            assertEquals(GgufValueType.STRING, nested[1].elementType());
            assertArrayEquals(new double[]{2.5}, (double[]) ((Metadata.Entry[]) nested[2].value())[0].value());
        }
    }

    private static Metadata.Entry array(GgufValueType elementType, Object values) {
        return new Metadata.Entry(GgufValueType.ARRAY, elementType, values, -1);
    }

    private static void assertSameEntry(String key, Metadata.Entry expected, Metadata.Entry actual) {
        assertEquals(expected.type(), actual.type(), key);
        assertEquals(expected.elementType(), actual.elementType(), key);
        Object e = expected.value(), a = actual.value();
        if (e instanceof GgufStrings s) e = s.toArray(); // string arrays read from a file stay undecoded
        if (a instanceof GgufStrings s) a = s.toArray();
        if (e instanceof Metadata.Entry[] ee) {
            Metadata.Entry[] aa = (Metadata.Entry[]) a;
            assertEquals(ee.length, aa.length, key);
            for (int i = 0; i < ee.length; i++) assertSameEntry(key + "[" + i + "]", ee[i], aa[i]);
        } else if (e.getClass().isArray()) {
            assertTrue(Arrays.deepEquals(new Object[]{e}, new Object[]{a}), key + ": " + Arrays.deepToString(new Object[]{e, a}));
        } else if (e instanceof Float ef) {
            assertEquals(Float.floatToRawIntBits(ef), Float.floatToRawIntBits((Float) a), key);
        } else {
            assertEquals(e, a, key);
        }
    }

    @Test
    void valuesThatDoNotFitTheirTypeAreRefused() {
        GgufWriter w = new GgufWriter();
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.UINT8, 256));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.INT8, 128));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.UINT32, -1L));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.FLOAT32, 1.0));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.STRING, 3));
        assertThrows(IllegalArgumentException.class, () -> w.put("", GgufValueType.STRING, "x"));
        assertThrows(IllegalArgumentException.class, () -> w.putArray("k", GgufValueType.UINT16, new int[]{70000}));
        assertThrows(IllegalArgumentException.class, () -> w.putArray("k", GgufValueType.FLOAT32, new double[]{1}));
        assertThrows(IllegalArgumentException.class, () -> w.putArray("k", GgufValueType.STRING, new String[]{null}));
        assertThrows(IllegalArgumentException.class, () -> w.put("k", GgufValueType.ARRAY, new int[0]));
        assertTrue(w.metadata().isEmpty());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> w.addTensor("t", GgmlType.Q4_0, new long[]{48, 2}, GgufWriter.TensorData.of(new byte[0])));
        assertTrue(e.getMessage().contains("t: row length 48"), e.getMessage());
        w.addTensor("t", GgmlType.F32, new long[]{4}, GgufWriter.TensorData.of(new byte[16]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.F32, new long[]{4}, GgufWriter.TensorData.of(new byte[16])));
    }

    // ------------------------------------------------------------------ tensors

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 8, 32, 64, 4096})
    void tensorsRoundTripAtTheAlignment(int alignment) {
        GgufWriter w = new GgufWriter().putString("general.architecture", "llama");
        if (alignment > 0) w.putUInt32("general.alignment", alignment);
        int align = alignment > 0 ? alignment : 32;
        Random rnd = new Random(alignment);
        Object[][] specs = {
                {"a", GgmlType.F32, new long[]{3}},
                {"b", GgmlType.F16, new long[]{5, 3}},
                {"c", GgmlType.Q8_0, new long[]{64, 3}},
                {"d", GgmlType.Q4_K, new long[]{256, 2, 1}},
                {"e", GgmlType.BF16, new long[]{1, 1, 1, 7}},
                {"f", GgmlType.Q5_1, new long[]{32}},
        };
        List<byte[]> data = new ArrayList<>();
        for (Object[] s : specs) {
            GgmlType t = (GgmlType) s[1];
            long[] shape = (long[]) s[2];
            long n = 1;
            for (long d : shape) n *= d;
            byte[] b = new byte[(int) t.byteSize(n)];
            rnd.nextBytes(b);
            data.add(b);
            // streamed in pieces of 7 bytes to check that chunks add up
            w.addTensor((String) s[0], t, shape, sink -> {
                for (int o = 0; o < b.length; o += 7) sink.write(MemorySegment.ofArray(b).asSlice(o, Math.min(7, b.length - o)));
            });
        }
        Path f = dir.resolve("t" + alignment + ".gguf");
        long written = w.write(f);
        assertEquals(written, size(f));
        try (GgufFile g = GgufFile.open(f)) {
            assertEquals(align, g.alignment());
            List<TensorInfo> infos = List.copyOf(g.tensorInfos().values());
            assertEquals(specs.length, infos.size());
            long expectedOffset = infos.getFirst().fileOffset();
            assertEquals(0, expectedOffset % align, "data section aligned");
            for (int i = 0; i < specs.length; i++) {
                TensorInfo t = infos.get(i);
                assertEquals(specs[i][0], t.name());
                assertEquals(specs[i][1], t.type());
                assertArrayEquals((long[]) specs[i][2], t.shape());
                assertEquals(expectedOffset, t.fileOffset(), t.name() + " packed after the previous tensor");
                Tensor view = g.tensor(t.name());
                assertEquals(-1, MemorySegment.ofArray(data.get(i)).mismatch(view.data()), t.name() + " bytes");
                expectedOffset += (t.bytes() + align - 1) / align * align;
            }
            assertEquals(expectedOffset, size(f), "last tensor padded to the alignment too, as ggml writes");
        }
    }

    @Test
    void badAlignmentIsRefusedBeforeWriting() {
        Path f = dir.resolve("x.gguf");
        GgufWriter w = new GgufWriter().putUInt32("general.alignment", 24);
        assertThrows(IllegalStateException.class, () -> w.write(f));
        GgufWriter w2 = new GgufWriter().put("general.alignment", GgufValueType.UINT64, 32L);
        assertThrows(IllegalStateException.class, () -> w2.write(f));
        assertFalse(Files.exists(f));
    }

    @Test
    void aSourceWritingTheWrongSizeFailsAndLeavesNoFile() {
        Path f = dir.resolve("short.gguf");
        GgufWriter w = new GgufWriter().addTensor("w", GgmlType.F32, new long[]{8}, GgufWriter.TensorData.of(new byte[28]));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.write(f));
        assertTrue(e.getMessage().contains("tensor w wrote 28 bytes but F32 [8] takes 32"), e.getMessage());
        GgufWriter w2 = new GgufWriter().addTensor("w", GgmlType.F32, new long[]{8}, GgufWriter.TensorData.of(new byte[36]));
        e = assertThrows(IllegalStateException.class, () -> w2.write(f));
        assertTrue(e.getMessage().contains("tensor w writes more than its 32 bytes"), e.getMessage());
        assertEquals(List.of(), list(dir), "neither the file nor its temporary remains");
    }

    @Test
    void aTensorLargerThanTheWriteBufferStreamsThrough() {
        // 24 MB of F32 produced row by row: three times the writer's buffer
        int cols = 4096, rows = 1536;
        GgufWriter w = new GgufWriter().addTensor("big", GgmlType.F32, new long[]{cols, rows}, sink -> {
            MemorySegment row = MemorySegment.ofArray(new float[cols]);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) row.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, c, r * 10_000f + c);
                sink.write(row);
            }
        });
        Path f = dir.resolve("big.gguf");
        w.write(f);
        try (GgufFile g = GgufFile.open(f)) {
            Tensor t = g.tensor("big");
            var layout = java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (int r : new int[]{0, 700, rows - 1}) {
                for (int c : new int[]{0, 1, cols - 1}) {
                    assertEquals(r * 10_000f + c, t.data().getAtIndex(layout, (long) r * cols + c));
                }
            }
        }
    }

    // ------------------------------------------------------------------ ggml layout compatibility

    static Stream<Path> fixtureFiles() throws IOException {
        try (Stream<Path> s = Files.walk(Fixtures.root())) {
            return s.filter(p -> p.toString().endsWith(".gguf")).sorted().toList().stream();
        }
    }

    /**
     * Every shipped fixture, written by the oracle's writer (F32/F16) or by llama.cpp's quantizer (the rest, through
     * ggml's gguf writer), comes out byte for byte the same when read and written again.
     */
    @ParameterizedTest
    @MethodSource("fixtureFiles")
    void rewritingAFixtureGivesTheSameBytes(Path fixture) throws IOException {
        Path out = dir.resolve(fixture.getFileName());
        try (GgufFile g = GgufFile.open(fixture)) {
            GgufWriter.copyOf(g).write(out);
        }
        assertEquals(Files.size(fixture), Files.size(out));
        assertEquals(-1L, Files.mismatch(fixture, out), "first differing byte");
    }

    // ------------------------------------------------------------------ split files

    @Test
    void threePartSplitOpensAsTheOriginal() {
        Path source = Fixtures.path("tiny/tiny-F32.gguf");
        Path out = dir.resolve("tiny.gguf");
        List<Path> parts;
        try (GgufFile g = GgufFile.open(source)) {
            parts = GgufWriter.copyOf(g).writeSplit(out, 3);
        }
        assertEquals(List.of(dir.resolve("tiny-00001-of-00003.gguf"), dir.resolve("tiny-00002-of-00003.gguf"),
                dir.resolve("tiny-00003-of-00003.gguf")), parts);
        try (GgufFile original = GgufFile.open(source)) {
            for (Path open : List.of(parts.get(0), parts.get(1))) {
                try (GgufFile split = GgufFile.open(open)) {
                    assertEquals(parts, split.paths());
                    assertSameModel(original, split);
                    Metadata md = split.metadata();
                    assertEquals(GgufValueType.UINT16, md.entry("split.no").type());
                    assertEquals(GgufValueType.UINT16, md.entry("split.count").type());
                    assertEquals(GgufValueType.INT32, md.entry("split.tensors.count").type());
                    assertEquals(0, md.getInt("split.no"));
                    assertEquals(3, md.getInt("split.count"));
                    assertEquals(original.tensorInfos().size(), md.getInt("split.tensors.count"));
                    // part i's offsets are relative to its own data section: its first tensor is at offset 0
                    for (int i = 0; i < 3; i++) {
                        final int part = i;
                        GgufBytes.Skeleton sk = GgufBytes.skeleton(parts.get(i));
                        assertEquals(0, sk.tensors().getFirst().offset(), "part " + (i + 1));
                        TensorInfo first = split.tensorInfos().values().stream().filter(t -> t.split() == part).findFirst().orElseThrow();
                        assertEquals(sk.tensors().getFirst().name(), first.name());
                        assertEquals(sk.dataStart(32), first.fileOffset(), "part " + (i + 1));
                    }
                }
            }
        }
        // part 1 holds all metadata and then the split keys; parts 2 and 3 only the split keys, as gguf-split writes them
        try (GgufFile original = GgufFile.open(source)) {
            List<String> first = new ArrayList<>(original.metadata().keys());
            first.addAll(List.of("split.no", "split.count", "split.tensors.count"));
            assertEquals(first, GgufBytes.skeleton(parts.get(0)).keys());
        }
        for (int i = 1; i < 3; i++) {
            assertEquals(List.of("split.no", "split.count", "split.tensors.count"), GgufBytes.skeleton(parts.get(i)).keys());
        }
    }

    @Test
    void splitBySizeAndByTensorCountFollowGgufSplitsRules() {
        GgufWriter w = new GgufWriter().putString("general.architecture", "llama");
        for (int i = 0; i < 7; i++) w.addTensor("t" + i, GgmlType.F32, new long[]{i == 3 ? 100 : 8}, GgufWriter.TensorData.of(new byte[i == 3 ? 400 : 32]));
        // 100 bytes per part: 3 x 32 fit; t3 (416 padded) is alone, over the limit, as gguf-split allows
        List<Path> bySize = w.writeSplit(dir.resolve("s.gguf"), 0, 100);
        assertEquals(List.of(3, 1, 3), tensorsPerPart(bySize));
        List<Path> byCount = w.writeSplit(dir.resolve("c.gguf"), 2, 0);
        assertEquals(List.of(2, 2, 2, 1), tensorsPerPart(byCount));
        try (GgufFile g = GgufFile.open(byCount.get(3))) {
            assertEquals(7, g.tensorInfos().size());
            assertEquals("llama", g.metadata().getString("general.architecture"));
        }
    }

    @Test
    void splitPartsKeepANonDefaultAlignment() {
        GgufWriter w = new GgufWriter().putUInt32("general.alignment", 256);
        for (int i = 0; i < 4; i++) w.addTensor("t" + i, GgmlType.F32, new long[]{3}, GgufWriter.TensorData.of(new byte[12]));
        List<Path> parts = w.writeSplit(dir.resolve("a.gguf"), 2);
        try (GgufFile g = GgufFile.open(parts.get(1))) {
            for (TensorInfo t : g.tensorInfos().values()) assertEquals(0, t.fileOffset() % 256, t.name());
        }
        assertEquals(List.of("split.no", "split.count", "split.tensors.count", "general.alignment"), GgufBytes.skeleton(parts.get(1)).keys());
    }

    private static List<Integer> tensorsPerPart(List<Path> parts) {
        List<Integer> n = new ArrayList<>();
        for (Path p : parts) n.add(GgufBytes.skeleton(p).tensors().size());
        return n;
    }

    static void assertSameModel(GgufFile expected, GgufFile actual) {
        List<String> keys = new ArrayList<>(actual.metadata().keys());
        keys.removeIf(k -> k.startsWith("split."));
        assertEquals(List.copyOf(expected.metadata().keys()), keys);
        for (String k : keys) assertSameEntry(k, expected.metadata().entry(k), actual.metadata().entry(k));
        assertEquals(List.copyOf(expected.tensorInfos().keySet()), List.copyOf(actual.tensorInfos().keySet()));
        for (TensorInfo t : expected.tensorInfos().values()) {
            TensorInfo a = actual.tensorInfos().get(t.name());
            assertEquals(t.type(), a.type(), t.name());
            assertArrayEquals(t.shape(), a.shape(), t.name());
            assertEquals(-1, expected.tensor(t.name()).data().mismatch(actual.tensor(t.name()).data()), t.name());
        }
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<Path> list(Path d) {
        try (Stream<Path> s = Files.list(d)) {
            return s.toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
