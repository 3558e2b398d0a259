package io.strata.engine.text;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Turns generated token ids into text as they arrive. A token's bytes can end inside a UTF-8 sequence (byte tokens,
 * or BPE tokens that split a character); those bytes are held back until the sequence completes, so the text
 * streamed never contains a replacement character that the finished text would not. Bytes that can never become
 * valid UTF-8 (a stray continuation byte, an impossible lead byte) are emitted at once as U+FFFD, as the JDK decodes
 * them. Not thread-safe: one per sequence.
 */
public final class StreamDecoder {
    private final Tokenizer tokenizer;
    private final boolean special;
    private byte[] pending = new byte[8];
    private int pendingLength;

    StreamDecoder(Tokenizer tokenizer, boolean special) {
        this.tokenizer = tokenizer;
        this.special = special;
    }

    /** Adds one token; returns the text that is now complete (often the whole piece, possibly ""). */
    public String push(int id) {
        byte[] p = tokenizer.pieceView(id, special);
        if (p.length == 0) return "";
        if (pending.length < pendingLength + p.length) pending = Arrays.copyOf(pending, pendingLength + p.length + 8);
        System.arraycopy(p, 0, pending, pendingLength, p.length);
        pendingLength += p.length;
        int complete = completePrefix(pending, pendingLength);
        if (complete == 0) return "";
        String text = new String(pending, 0, complete, StandardCharsets.UTF_8);
        System.arraycopy(pending, complete, pending, 0, pendingLength - complete);
        pendingLength -= complete;
        return text;
    }

    /** Bytes held back waiting for the rest of a character. */
    public int pendingBytes() {
        return pendingLength;
    }

    /** Ends the stream: whatever is held back, decoded (an unfinished sequence becomes U+FFFD). */
    public String finish() {
        String text = new String(pending, 0, pendingLength, StandardCharsets.UTF_8);
        pendingLength = 0;
        return text;
    }

    /**
     * The length of the longest prefix that does not end inside a UTF-8 sequence that could still be completed: only
     * a trailing, so far valid, incomplete sequence (at most 3 bytes) is excluded.
     */
    static int completePrefix(byte[] b, int n) {
        // look back over at most 3 bytes for the lead byte of the last sequence
        for (int back = 1; back <= Math.min(3, n); back++) {
            int c = b[n - back] & 0xFF;
            if (c < 0x80) return n;           // ASCII: everything before it is complete
            if (c >= 0xC0) {                  // a lead byte
                int need = c >= 0xF5 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
                if (need == 0 || back >= need) return n; // invalid lead (decoded as U+FFFD now) or complete
                if (!validSoFar(b, n - back, n, c)) return n;
                return n - back;              // hold back the unfinished sequence
            }
            // a continuation byte: keep looking for its lead
        }
        return n; // only continuation bytes: they can never complete
    }

    /** Whether lead byte {@code c} at {@code from} followed by {@code b[from+1, to)} can still become valid. */
    private static boolean validSoFar(byte[] b, int from, int to, int c) {
        if (from + 1 >= to) return true;
        int c1 = b[from + 1] & 0xFF;
        // the second byte's range excludes overlong forms and surrogates (RFC 3629)
        int lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
        int hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        if (c1 < lo || c1 > hi) return false;
        for (int i = from + 2; i < to; i++) if ((b[i] & 0xC0) != 0x80) return false;
        return true;
    }
}
