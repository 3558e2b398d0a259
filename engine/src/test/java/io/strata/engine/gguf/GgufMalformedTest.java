package io.strata.engine.gguf;

import io.strata.engine.model.ModelConfig;
import io.strata.engine.tensor.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hand-made broken GGUF files: each must fail in {@link GgufFile#open} (or in the metadata getters) with a
 * {@link GgufException} naming the file, the field and, where there is one, the byte offset.
 */
class GgufMalformedTest {

    @TempDir
    Path dir;

    /**
     * A small valid file; the {@code at*} fields remember where things are, for tests that break them.
     * Layout: 2 tensors ("a" F32 [4, 2] at 0, "b" F32 [8] at 32), 3 metadata keys (architecture string, a UINT32,
     * a STRING array).
     */
    static final class Valid {
        final GgufBytes b = new GgufBytes();
        int atVersion, atTensorCount, atKvCount, atKey0, atKey0Text, atValue0Text, atArrayCount, atArrayElement1,
                atInfoA, atInfoAName, atDimsA, atNe0A, atTypeA, atOffsetA, atInfoB, atOffsetB, atData, atDataB;

        Valid() {
            b.u32(GgufFile.MAGIC);
            atVersion = b.pos();
            b.u32(3);
            atTensorCount = b.pos();
            b.u64(2);
            atKvCount = b.pos();
            b.u64(3);
            atKey0 = b.pos();
            atKey0Text = atKey0 + 8;
            b.str("general.architecture").u32(GgufValueType.STRING.id);
            atValue0Text = b.pos() + 8;
            b.str("llama");
            b.kvU32("general.quantization_version", 2);
            b.str("tokenizer.ggml.tokens").u32(GgufValueType.ARRAY.id).u32(GgufValueType.STRING.id);
            atArrayCount = b.pos();
            b.u64(3).str("ab");
            atArrayElement1 = b.pos();
            b.str("cde").str("f");
            atInfoA = b.pos();
            atInfoAName = atInfoA + 8;
            b.str("a");
            atDimsA = b.pos();
            b.u32(2);
            atNe0A = b.pos();
            b.u64(4).u64(2);
            atTypeA = b.pos();
            b.u32(GgmlType.F32.id);
            atOffsetA = b.pos();
            b.u64(0);
            atInfoB = b.pos();
            b.str("b").u32(1).u64(8).u32(GgmlType.F32.id);
            atOffsetB = b.pos();
            b.u64(32);
            b.align(32);
            atData = b.pos();
            for (int i = 0; i < 8; i++) b.f32(i);
            atDataB = b.pos();
            for (int i = 0; i < 8; i++) b.f32(-i);
        }

        byte[] bytes() {
            return b.bytes();
        }
    }

    private Path write(String name, byte[] bytes) {
        try {
            return Files.write(dir.resolve(name), bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] patchU32(byte[] bytes, int at, long v) {
        byte[] c = bytes.clone();
        for (int i = 0; i < 4; i++) c[at + i] = (byte) (v >>> (8 * i));
        return c;
    }

    private static byte[] patchU64(byte[] bytes, int at, long v) {
        byte[] c = bytes.clone();
        for (int i = 0; i < 8; i++) c[at + i] = (byte) (v >>> (8 * i));
        return c;
    }

    /** Opens {@code file}, expects a GgufException naming it, {@code field} and (if not -1) {@code offset}. */
    private static GgufException fails(Path file, String field, long offset, String messagePart) {
        return fails(() -> GgufFile.open(file).close(), file, field, offset, messagePart);
    }

    /** Opens {@code open}, expects a GgufException naming {@code named} (another part of a split set), field, offset. */
    private static GgufException fails(Path open, Path named, String field, long offset, String messagePart) {
        return fails(() -> GgufFile.open(open).close(), named, field, offset, messagePart);
    }

    private static GgufException fails(Executable call, Path file, String field, long offset, String messagePart) {
        GgufException e = assertThrows(GgufException.class, call);
        String m = e.getMessage();
        assertTrue(m.startsWith(file.toString() + ": "), "names the file: " + m);
        assertEquals(field, e.field(), m);
        assertTrue(m.contains(field), "names the field: " + m);
        if (offset >= 0) {
            assertEquals(offset, e.offset(), m);
            assertTrue(m.contains("at offset " + offset), "names the offset: " + m);
        }
        assertTrue(m.contains(messagePart), "says '" + messagePart + "': " + m);
        return e;
    }

    @Test
    void theValidBaseFileOpens() {
        Valid v = new Valid();
        try (GgufFile g = GgufFile.open(write("ok.gguf", v.bytes()))) {
            assertEquals("llama", g.metadata().getString("general.architecture"));
            assertEquals(2, g.tensorInfos().size());
            assertEquals(v.atData, g.tensorInfos().get("a").fileOffset());
            assertEquals(v.atDataB, g.tensorInfos().get("b").fileOffset());
        }
    }

    @Test
    void emptyFile() {
        Path f = write("empty.gguf", new byte[0]);
        fails(f, "file", 0, "empty");
    }

    @Test
    void missingFile() {
        Path f = dir.resolve("absent.gguf");
        fails(f, "file", -1, "no such file");
    }

    @Test
    void badMagic() {
        byte[] b = new Valid().bytes();
        b[0] = 'g';
        fails(write("magic.gguf", b), "magic", 0, "not a GGUF file");
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 1, 4, 0x03000000L, 0xffffffffL})
    void unknownVersion(long version) {
        Valid v = new Valid();
        fails(write("v.gguf", patchU32(v.bytes(), v.atVersion, version)), "version", v.atVersion,
                "unsupported GGUF version " + version);
    }

    @Test
    void version2IsStillRead() {
        Valid v = new Valid();
        try (GgufFile g = GgufFile.open(write("v2.gguf", patchU32(v.bytes(), v.atVersion, 2)))) {
            assertEquals(2, g.version());
        }
    }

    /**
     * Every strict prefix of the file fails, and names what it was reading where the bytes ran out (or, when fewer
     * bytes remain after the counts than the declared tensors and keys need at the least, the count itself).
     */
    @Test
    void truncatedAtEveryByte() {
        Valid v = new Valid();
        byte[] full = v.bytes();
        int minimum = 2 * 32; // the smallest 2 tensor infos could be (3 keys need at least 36)
        for (int len = 0; len < full.length; len++) {
            Path f = write("cut" + len + ".gguf", Arrays.copyOf(full, len));
            GgufException e = assertThrows(GgufException.class, () -> GgufFile.open(f).close(), "prefix of " + len + " bytes");
            assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
            String field = e.field();
            if (len == 0) assertEquals("file", field);
            else if (len < 4) assertEquals("magic", field);
            else if (len < v.atTensorCount) assertEquals("version", field);
            else if (len < v.atKvCount) assertEquals("tensor_count", field);
            else if (len < v.atKey0) assertEquals("metadata_kv_count", field);
            else if (len - v.atKey0 < minimum) {
                assertTrue(field.equals("tensor_count") || field.equals("metadata_kv_count"), e.getMessage());
                assertTrue(e.getMessage().contains("cannot fit in a file of " + len + " bytes"), e.getMessage());
            } else if (len >= v.atKey0Text && len < v.atKey0Text + "general.architecture".length()) {
                assertEquals("metadata key #0", field, "inside a string");
            } else if (len >= v.atValue0Text && len < v.atValue0Text + 5) {
                assertEquals("general.architecture", field, "inside a string value");
            } else if (len >= v.atArrayCount + 8 && len < v.atInfoA) {
                assertTrue(field.startsWith("tokenizer.ggml.tokens"), "inside an array: " + e.getMessage());
            } else if (len >= v.atInfoAName && len < v.atInfoB) {
                assertTrue(field.startsWith("tensor info #0") || field.startsWith("a "), "inside tensor info a: " + e.getMessage());
            } else if (len >= v.atData && len < v.atDataB) {
                assertEquals("a", field, "inside a's data: " + e.getMessage());
                assertTrue(e.getMessage().contains("runs past the end of the file (" + len + " bytes)"), e.getMessage());
            } else if (len >= v.atDataB) {
                assertEquals("b", field, "inside b's data: " + e.getMessage());
            }
        }
    }

    @Test
    void truncatedInsideALongKeyAndALongValue() {
        String key = "k".repeat(300), value = "v".repeat(300);
        byte[] full = new GgufBytes().header(0, 1).kvString(key, value).bytes();
        int keyText = 24 + 8, valueText = keyText + 300 + 4 + 8;
        for (int len : new int[]{keyText + 4, keyText + 150, keyText + 299}) { // 12 bytes after the counts: 1 key could fit
            Path f = write("k" + len + ".gguf", Arrays.copyOf(full, len));
            fails(f, "metadata key #0", keyText - 8, "string length 300 runs past the end of the file (" + len + " bytes)");
        }
        for (int len : new int[]{keyText + 300, keyText + 303}) {
            Path f = write("t" + len + ".gguf", Arrays.copyOf(full, len));
            fails(f, key + " (type)", keyText + 300, "truncated: needs 4 bytes");
        }
        for (int len : new int[]{valueText, valueText + 299}) {
            Path f = write("v" + len + ".gguf", Arrays.copyOf(full, len));
            fails(f, key, valueText - 8, "string length 300 runs past the end");
        }
    }

    @Test
    void stringLengthPastTheEnd() {
        Valid v = new Valid();
        Path f = write("s.gguf", patchU64(v.bytes(), v.atKey0, 1L << 40));
        fails(f, "metadata key #0", v.atKey0, "string length 1099511627776 runs past the end");
        Path g = write("s2.gguf", patchU64(v.bytes(), v.atValue0Text - 8, -1L));
        fails(g, "general.architecture", v.atValue0Text - 8, "string length 18446744073709551615 runs past the end");
        Path h = write("s3.gguf", patchU64(v.bytes(), v.atArrayElement1, 10_000));
        fails(h, "tokenizer.ggml.tokens[1]", v.atArrayElement1, "string length 10000 runs past the end");
    }

    @Test
    void arrayLengthPastTheEnd() {
        Valid v = new Valid();
        Path f = write("a.gguf", patchU64(v.bytes(), v.atArrayCount, 100));
        fails(f, "tokenizer.ggml.tokens", v.atArrayCount, "array length 100 runs past the end");
        Path g = write("a2.gguf", patchU64(v.bytes(), v.atArrayCount, Long.MIN_VALUE));
        fails(g, "tokenizer.ggml.tokens", v.atArrayCount, "array length 9223372036854775808 runs past the end");
    }

    @Test
    void arraysThatWouldExhaustTheHeapAreRefused() throws IOException {
        // a string count that the file's size allows because the rest of it is zeros, each read as an empty string:
        // refused at the count, before the walk and the allocation
        long n = GgufFile.ARRAY_BUDGET / 4 + 1;
        GgufBytes b = new GgufBytes();
        b.u32(GgufFile.MAGIC).u32(3).u64(0).u64(1);
        b.str("tokenizer.ggml.tokens").u32(GgufValueType.ARRAY.id).u32(GgufValueType.STRING.id);
        int at = b.pos();
        b.u64(n);
        Path f = write("huge.gguf", b.bytes());
        try (java.io.RandomAccessFile r = new java.io.RandomAccessFile(f.toFile(), "rw")) {
            r.setLength(at + 8 + n * 8); // sparse: no disk space
        }
        fails(f, "tokenizer.ggml.tokens", at, "MiB of heap, more than the");
    }

    @Test
    void hugeCounts() {
        Valid v = new Valid();
        fails(write("t.gguf", patchU64(v.bytes(), v.atTensorCount, 1L << 62)), "tensor_count", v.atTensorCount, "cannot fit");
        fails(write("t2.gguf", patchU64(v.bytes(), v.atTensorCount, -1L)), "tensor_count", v.atTensorCount, "18446744073709551615");
        fails(write("k.gguf", patchU64(v.bytes(), v.atKvCount, 1L << 40)), "metadata_kv_count", v.atKvCount, "cannot fit");
        fails(write("k2.gguf", patchU64(v.bytes(), v.atKvCount, 1L << 63)), "metadata_kv_count", v.atKvCount, "9223372036854775808");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 5, -1})
    void badNumberOfDimensions(int nDims) {
        Valid v = new Valid();
        fails(write("d.gguf", patchU32(v.bytes(), v.atDimsA, nDims)), "a", v.atDimsA,
                "n_dims " + Integer.toUnsignedString(nDims) + " not in [1, 4]");
    }

    @Test
    void zeroAndOutOfRangeDimensions() {
        Valid v = new Valid();
        fails(write("z.gguf", patchU64(v.bytes(), v.atNe0A, 0)), "a", v.atNe0A, "dimension 0 = 0 is out of range");
        fails(write("n.gguf", patchU64(v.bytes(), v.atNe0A + 8, -2)), "a", v.atNe0A + 8, "dimension 1 = 18446744073709551614 is out of range");
        fails(write("h.gguf", patchU64(v.bytes(), v.atNe0A, (1L << 40) + 1)), "a", v.atNe0A, "dimension 0 = 1099511627777 is out of range");
    }

    @Test
    void overflowingElementCountAndByteSize() {
        // four dimensions of 2^40: the element count overflows
        GgufBytes b = new GgufBytes().header(1, 0);
        long at = b.pos();
        b.tensor("w", new long[]{1L << 40, 1L << 40, 1L << 40, 1L << 40}, GgmlType.F32.id, 0).align(32);
        fails(write("o.gguf", b.bytes()), "w", at + 8 + 1 + 4 + 8, "element count overflows");
        // 2^62 F32 elements fit a long, their 2^64 bytes do not (this used to wrap to a size of 0)
        GgufBytes c = new GgufBytes().header(1, 0);
        long at2 = c.pos();
        c.tensor("w", new long[]{1L << 40, 1L << 22}, GgmlType.F32.id, 0).align(32);
        fails(write("o2.gguf", c.bytes()), "w", at2 + 8 + 1 + 4 + 16, "size in bytes of 4611686018427387904 F32 elements overflows");
    }

    @ParameterizedTest
    @ValueSource(ints = {16, 4, 9, 15, 39, 99, -7})
    void unsupportedTensorTypeIsNamed(int id) {
        Valid v = new Valid();
        String name = switch (id) {
            case 16 -> "IQ2_XXS";
            case 4 -> "Q4_2 (removed)";
            case 9 -> "Q8_1";
            case 15 -> "Q8_K";
            case 39 -> "MXFP4";
            default -> "unknown type " + id;
        };
        fails(write("ty.gguf", patchU32(v.bytes(), v.atTypeA, id)), "a", v.atTypeA,
                "unsupported tensor type " + name + " (id " + id + ")");
    }

    @Test
    void rowLengthNotAMultipleOfTheBlock() {
        GgufBytes b = new GgufBytes().header(1, 0);
        int at = b.pos();
        b.tensor("q", new long[]{48, 2}, GgmlType.Q4_0.id, 0).align(32).zeros(64);
        fails(write("r.gguf", b.bytes()), "q", at + 8 + 1 + 4 + 16, "row length 48 is not a multiple of Q4_0's block size 32");
    }

    @Test
    void misalignedOffset() {
        Valid v = new Valid();
        fails(write("m.gguf", patchU64(v.bytes(), v.atOffsetB, 16)), "b", v.atOffsetB,
                "data offset 16 is not a multiple of the alignment 32");
        fails(write("m2.gguf", patchU64(v.bytes(), v.atOffsetB, -32)), "b", v.atOffsetB, "is not a multiple of the alignment");
    }

    @Test
    void dataOutOfRange() {
        Valid v = new Valid();
        fails(write("o.gguf", patchU64(v.bytes(), v.atOffsetB, 64)), "b", v.atOffsetB, "runs past the end of the file");
        fails(write("o2.gguf", patchU64(v.bytes(), v.atOffsetB, Long.MAX_VALUE - 31)), "b", v.atOffsetB, "runs past the end of the file");
    }

    @Test
    void overlappingTensors() {
        Valid v = new Valid();
        fails(write("ov.gguf", patchU64(v.bytes(), v.atOffsetB, 0)), "b", v.atOffsetB, "data overlaps tensor a");
    }

    @Test
    void duplicateKey() {
        GgufBytes b = new GgufBytes().header(0, 2).kvString("general.name", "x");
        int at = b.pos();
        b.kvString("general.name", "y");
        fails(write("dk.gguf", b.bytes()), "general.name", at, "duplicate metadata key");
    }

    @Test
    void duplicateTensor() {
        GgufBytes b = new GgufBytes().header(2, 0).tensor("w", new long[]{8}, 0, 0);
        int at = b.pos();
        b.tensor("w", new long[]{8}, 0, 32).align(32).zeros(64);
        fails(write("dt.gguf", b.bytes()), "w", at, "duplicate tensor name");
    }

    @Test
    void badBool() {
        GgufBytes b = new GgufBytes().header(0, 1).str("tokenizer.ggml.add_bos_token").u32(GgufValueType.BOOL.id);
        int at = b.pos();
        b.u8(2);
        fails(write("b.gguf", b.bytes()), "tokenizer.ggml.add_bos_token", at, "bool value 2 is neither 0 nor 1");
        GgufBytes c = new GgufBytes().header(0, 1).str("flags").u32(GgufValueType.ARRAY.id).u32(GgufValueType.BOOL.id).u64(3).u8(1).u8(0);
        int at2 = c.pos();
        c.u8(0xff);
        fails(write("b2.gguf", c.bytes()), "flags", at2, "bool value -1 is neither 0 nor 1");
    }

    @Test
    void unknownValueTypes() {
        GgufBytes b = new GgufBytes().header(0, 1).str("k");
        int at = b.pos();
        b.u32(13).u32(0);
        fails(write("u.gguf", b.bytes()), "k", at, "unknown metadata value type 13");
        GgufBytes c = new GgufBytes().header(0, 1).str("k").u32(GgufValueType.ARRAY.id);
        int at2 = c.pos();
        c.u32(-1).u64(0);
        fails(write("u2.gguf", c.bytes()), "k", at2, "unknown array element type 4294967295");
    }

    @Test
    void arraysNestedTooDeep() {
        // 17 levels: refused with an error, not a stack overflow
        GgufBytes b = new GgufBytes().header(0, 1).str("deep").u32(GgufValueType.ARRAY.id);
        for (int i = 0; i < 17; i++) b.u32(GgufValueType.ARRAY.id).u64(1);
        b.u32(GgufValueType.UINT8.id).u64(0);
        GgufException e = fails(write("n.gguf", b.bytes()), "deep" + "[0]".repeat(15), -1, "arrays nested deeper than 16 levels");
        assertTrue(e.offset() > 0);
        // 200000 levels in a 2.4 MB file: the same error, found long before the end
        GgufBytes c = new GgufBytes().header(0, 1).str("deeper").u32(GgufValueType.ARRAY.id);
        for (int i = 0; i < 200_000; i++) c.u32(GgufValueType.ARRAY.id).u64(1);
        assertThrows(GgufException.class, () -> GgufFile.open(write("n2.gguf", c.bytes())).close());
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 3, 48, 1L << 21})
    void badAlignment(long alignment) {
        GgufBytes b = new GgufBytes().header(0, 1).str("general.alignment").u32(GgufValueType.UINT32.id);
        int at = b.pos();
        b.u32(alignment);
        fails(write("al.gguf", b.bytes()), "general.alignment", at, "alignment " + alignment + " is not a power of two");
    }

    @Test
    void alignmentOfTheWrongType() {
        GgufBytes b = new GgufBytes().header(0, 1).str("general.alignment").u32(GgufValueType.STRING.id);
        int at = b.pos();
        b.str("32");
        fails(write("al.gguf", b.bytes()), "general.alignment", at, "expected an integer but the value is STRING");
    }

    @Test
    void missingOrMistypedKeysThroughTheGetters() {
        Valid v = new Valid();
        Path f = write("k.gguf", v.bytes());
        try (GgufFile g = GgufFile.open(f)) {
            Metadata md = g.metadata();
            fails(() -> md.getString("general.name"), f, "general.name", -1, "required metadata key is missing");
            fails(() -> md.getInt("llama.block_count"), f, "llama.block_count", -1, "required metadata key is missing");
            fails(() -> md.getInt("general.architecture"), f, "general.architecture", v.atValue0Text - 8, "expected an integer but the value is STRING");
            fails(() -> md.getFloatArray("tokenizer.ggml.tokens"), f, "tokenizer.ggml.tokens", -1, "expected an array of float32 but the value is ARRAY of STRING");
            fails(() -> md.getBool("general.quantization_version"), f, "general.quantization_version", -1, "expected a bool");
            fails(() -> g.tensor("output.weight"), f, "output.weight", -1, "required tensor is missing");
        }
    }

    @Test
    void missingKeysThroughModelConfig() {
        GgufWriter w = llamaWithout("llama.embedding_length");
        Path f = dir.resolve("noembd.gguf");
        w.write(f);
        try (GgufFile g = GgufFile.open(f)) {
            fails(() -> ModelConfig.from(g), f, "llama.embedding_length", -1, "required metadata key is missing");
        }
        Path h = dir.resolve("noarch.gguf");
        llamaWithout("general.architecture").write(h);
        try (GgufFile g = GgufFile.open(h)) {
            fails(() -> ModelConfig.from(g), h, "general.architecture", -1, "required metadata key is missing");
        }
        Path k = dir.resolve("gptj.gguf");
        llamaWithout("none").putString("general.architecture", "gptj").write(k);
        try (GgufFile g = GgufFile.open(k)) {
            fails(() -> ModelConfig.from(g), k, "general.architecture", -1, "unsupported architecture 'gptj'");
        }
        Path m = dir.resolve("heads.gguf");
        llamaWithout("none").putUInt32("llama.attention.head_count_kv", 3).write(m);
        try (GgufFile g = GgufFile.open(m)) {
            fails(() -> ModelConfig.from(g), m, "llama.attention.head_count", -1, "must be a positive multiple of kv heads 3");
        }
    }

    private static GgufWriter llamaWithout(String key) {
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "llama")
                .putUInt32("llama.embedding_length", 32)
                .putUInt32("llama.block_count", 1)
                .putUInt32("llama.feed_forward_length", 64)
                .putUInt32("llama.attention.head_count", 4)
                .putUInt32("llama.attention.head_count_kv", 2);
        w.remove(key);
        return w.addTensor("token_embd.weight", GgmlType.F32, new long[]{32, 10}, GgufWriter.TensorData.of(new byte[32 * 10 * 4]));
    }

    // ------------------------------------------------------------------ split sets

    private Path[] writeSplitSet(String prefix, int parts, int declaredCount, int tensorsCount) {
        Path[] paths = new Path[parts];
        for (int i = 0; i < parts; i++) {
            GgufBytes b = new GgufBytes().header(1, i == 0 ? 4 : 3);
            if (i == 0) b.kvString("general.architecture", "llama");
            b.str("split.no").u32(GgufValueType.UINT16.id).u16(i);
            b.str("split.count").u32(GgufValueType.UINT16.id).u16(declaredCount);
            b.str("split.tensors.count").u32(GgufValueType.INT32.id).u32(tensorsCount);
            b.tensor("t" + i, new long[]{8}, 0, 0).align(32).zeros(32);
            paths[i] = write(String.format("%s-%05d-of-%05d.gguf", prefix, i + 1, parts), b.bytes());
        }
        return paths;
    }

    @Test
    void aConsistentSplitSetOpens() {
        Path[] p = writeSplitSet("ok", 3, 3, 3);
        try (GgufFile g = GgufFile.open(p[2])) {
            assertEquals(3, g.tensorInfos().size());
            assertEquals(2, g.tensorInfos().get("t2").split());
        }
    }

    @Test
    void splitCountDisagreesWithTheFileName() {
        Path[] p = writeSplitSet("sc", 2, 3, 2);
        fails(p[0], "split.count", -1, "the file name says 2 parts but the metadata says 3");
    }

    @Test
    void splitTensorCountDisagrees() {
        Path[] p = writeSplitSet("tc", 2, 2, 5);
        fails(p[1], p[0], "split.tensors.count", -1, "declares 5 tensors but the parts hold 2");
    }

    @Test
    void missingPart() throws IOException {
        Path[] p = writeSplitSet("mp", 3, 3, 3);
        Files.delete(p[1]);
        fails(p[0], p[1], "file", -1, "no such file");
    }

    @Test
    void partWithTheWrongIndex() throws IOException {
        Path[] p = writeSplitSet("wi", 3, 3, 3);
        Files.copy(p[2], p[1], java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        fails(p[0], p[1], "split.no", -1, "expected part index 1 but found 2");
    }

    @Test
    void invalidPartNumbersInTheName() {
        Path zero = write("z-00001-of-00000.gguf", new Valid().bytes());
        fails(zero, "file name", -1, "split part 1 of 0 is not a valid part number");
        Path beyond = write("z-00004-of-00003.gguf", new Valid().bytes());
        fails(beyond, "file name", -1, "split part 4 of 3 is not a valid part number");
    }

    @Test
    void aSplitPartRenamedAsASingleFileIsRefused() {
        Path[] p = writeSplitSet("rn", 2, 2, 2);
        Path single = write("renamed.gguf", readAll(p[0]));
        fails(single, "split.count", -1, "the file name says 1 parts but the metadata says 2");
    }

    private static byte[] readAll(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
