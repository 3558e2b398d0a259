package io.strata.engine.gguf;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A GGUF array of strings, kept as the file stores it: one copy of the array's bytes (each string's UTF-8 after its
 * 8-byte length) and where each string starts. No {@link String} is made until one is asked for, so opening a model
 * does not decode its vocabulary and merges (hundreds of thousands of strings) when only the tokenizer, which works
 * on bytes, reads them.
 *
 * <p>Immutable and safe to share between threads.
 */
public final class GgufStrings {
    private final byte[] data;
    private final int[] starts;
    private volatile String[] decoded;

    /**
     * @param data   the array's bytes from its first string's length on (each string: u64 length, then its bytes)
     * @param starts where each string's bytes begin in {@code data}, ascending; each is preceded by its 8-byte length
     */
    GgufStrings(byte[] data, int[] starts) {
        this.data = data;
        this.starts = starts;
    }

    /** An array of these strings (UTF-8), laid out as a GGUF file stores it. */
    public static GgufStrings of(String... strings) {
        byte[][] utf8 = new byte[strings.length][];
        int total = 0;
        for (int i = 0; i < strings.length; i++) {
            utf8[i] = strings[i].getBytes(StandardCharsets.UTF_8);
            total = Math.addExact(total, Math.addExact(8, utf8[i].length));
        }
        byte[] data = new byte[total];
        int[] starts = new int[strings.length];
        ByteBuffer b = ByteBuffer.wrap(data).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < strings.length; i++) {
            b.putLong(utf8[i].length);
            starts[i] = b.position();
            b.put(utf8[i]);
        }
        return new GgufStrings(data, starts);
    }

    public int size() {
        return starts.length;
    }

    /** The UTF-8 length of string {@code i}. */
    public int length(int i) {
        return end(i) - starts[i];
    }

    private int end(int i) {
        return i + 1 < starts.length ? starts[i + 1] - 8 : data.length;
    }

    /** A copy of string {@code i}'s bytes, as stored (not checked to be valid UTF-8). */
    public byte[] bytes(int i) {
        return Arrays.copyOfRange(data, starts[i], end(i));
    }

    /** Copies string {@code i}'s bytes into {@code dst} at {@code at}; returns how many. */
    public int copy(int i, byte[] dst, int at) {
        int n = length(i);
        System.arraycopy(data, starts[i], dst, at, n);
        return n;
    }

    /** String {@code i}, decoded from UTF-8 (a malformed sequence becomes U+FFFD). */
    public String get(int i) {
        String[] d = decoded;
        if (d != null) return d[i];
        return new String(data, starts[i], length(i), StandardCharsets.UTF_8);
    }

    /** Every string, decoded (once; later calls return the same array, which callers must not change). */
    public String[] toArray() {
        String[] d = decoded;
        if (d == null) {
            d = new String[starts.length];
            for (int i = 0; i < d.length; i++) d[i] = new String(data, starts[i], length(i), StandardCharsets.UTF_8);
            decoded = d;
        }
        return d;
    }

    /**
     * The stored bytes of the whole array, read-only: every string's 8-byte little-endian length and its bytes, in
     * order, as a GGUF file holds them (what {@link GgufWriter} writes back).
     */
    public ByteBuffer raw() {
        return ByteBuffer.wrap(data).asReadOnlyBuffer();
    }

    @Override
    public String toString() {
        return "GgufStrings[" + starts.length + " strings, " + data.length + " bytes]";
    }
}
