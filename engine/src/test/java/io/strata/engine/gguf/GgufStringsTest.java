package io.strata.engine.gguf;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** String arrays are read undecoded: each string's bytes as stored, decoded only when asked for. */
class GgufStringsTest {
    @TempDir
    Path dir;

    private static final String[] WORDS = {"a", "", "Ġthe", "日本語", "🦙", "<|eot_id|>"};

    @Test
    void readBackAsWritten() {
        Path f = dir.resolve("s.gguf");
        new GgufWriter().putArray("a.str", GgufValueType.STRING, WORDS).write(f);
        try (GgufFile g = GgufFile.open(f)) {
            GgufStrings s = g.metadata().getStrings("a.str");
            assertEquals(WORDS.length, s.size());
            for (int i = 0; i < WORDS.length; i++) {
                byte[] utf8 = WORDS[i].getBytes(StandardCharsets.UTF_8);
                assertEquals(WORDS[i], s.get(i));
                assertArrayEquals(utf8, s.bytes(i));
                assertEquals(utf8.length, s.length(i));
                byte[] dst = new byte[utf8.length + 2];
                assertEquals(utf8.length, s.copy(i, dst, 1));
                assertArrayEquals(utf8, java.util.Arrays.copyOfRange(dst, 1, 1 + utf8.length));
            }
            assertArrayEquals(WORDS, s.toArray());
            assertSame(s.toArray(), g.metadata().getStringArray("a.str"), "decoded once");
            // raw(): each string's u64 length, then its bytes, as GgufStrings.of lays them out
            ByteBuffer raw = s.raw().order(ByteOrder.LITTLE_ENDIAN);
            for (String w : WORDS) {
                byte[] utf8 = w.getBytes(StandardCharsets.UTF_8);
                assertEquals(utf8.length, raw.getLong());
                byte[] got = new byte[utf8.length];
                raw.get(got);
                assertArrayEquals(utf8, got);
            }
            assertEquals(0, raw.remaining());
            assertEquals(GgufStrings.of(WORDS).raw(), s.raw());
        }
    }

    @Test
    void malformedUtf8StaysAsStoredAndIsCopiedAsStored() throws IOException {
        Path f = dir.resolve("bad.gguf");
        new GgufWriter().putArray("a.str", GgufValueType.STRING, new String[] {"ok", "QZ"}).write(f);
        byte[] file = Files.readAllBytes(f);
        int at = indexOf(file, "QZ".getBytes(StandardCharsets.US_ASCII));
        file[at] = (byte) 0xC3; // a lead byte followed by ASCII: not UTF-8
        file[at + 1] = (byte) 0x28;
        Files.write(f, file);
        byte[] stored = {(byte) 0xC3, 0x28};
        Path copy = dir.resolve("copy.gguf");
        try (GgufFile g = GgufFile.open(f)) {
            GgufStrings s = g.metadata().getStrings("a.str");
            assertArrayEquals(stored, s.bytes(1));
            assertEquals("\uFFFD(", s.get(1));
            new GgufWriter().putAll(g.metadata()).write(copy);
        }
        try (GgufFile g = GgufFile.open(copy)) {
            assertArrayEquals(stored, g.metadata().getStrings("a.str").bytes(1), "putAll writes the stored bytes");
        }
    }

    private static int indexOf(byte[] a, byte[] b) {
        outer:
        for (int i = 0; i + b.length <= a.length; i++) {
            for (int j = 0; j < b.length; j++) if (a[i + j] != b[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }
}
