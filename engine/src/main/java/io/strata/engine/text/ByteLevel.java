package io.strata.engine.text;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * GPT-2's byte-level alphabet: each byte value is shown as one printable character (printable Latin-1 bytes as
 * themselves, the others as U+0100 onwards in byte order), so byte-level BPE vocabularies store every byte string
 * as text. Space is 'Ġ' (U+0120), newline 'Ċ' (U+010A).
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512]; // -1 where the character is not in the alphabet

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {
    }

    static char encode(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    static String encode(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length);
        for (byte b : bytes) sb.append(BYTE_TO_CHAR[b & 0xFF]);
        return sb.toString();
    }

    /**
     * The bytes that the UTF-8 text {@code utf8[from, to)} stands for, or null if it holds a character outside the
     * alphabet or is not valid UTF-8. The alphabet is U+0021..U+0143, so each character is one or two UTF-8 bytes.
     */
    static byte[] decodeUtf8(byte[] utf8, int from, int to) {
        byte[] out = new byte[to - from];
        int n = 0;
        for (int i = from; i < to; ) {
            int b0 = utf8[i] & 0xFF;
            int c;
            if (b0 < 0x80) {
                c = b0;
                i++;
            } else if ((b0 & 0xE0) == 0xC0 && i + 1 < to && (utf8[i + 1] & 0xC0) == 0x80) {
                c = (b0 & 0x1F) << 6 | (utf8[i + 1] & 0x3F);
                if (c < 0x80) return null; // overlong
                i += 2;
            } else {
                return null; // three bytes or more: not in the alphabet (or malformed)
            }
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b < 0) return null;
            out[n++] = (byte) b;
        }
        return n == out.length ? out : java.util.Arrays.copyOf(out, n);
    }

    /**
     * A normal token's piece as llama.cpp renders it: each character back to its byte; a character outside the
     * alphabet becomes {@code [UNK_BYTE_0x<its UTF-8 in hex><the token text>]}, llama.cpp's marker.
     */
    static byte[] piece(String tokenText) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(tokenText.length());
        for (int i = 0; i < tokenText.length(); ) {
            int cp = tokenText.codePointAt(i);
            i += Character.charCount(cp);
            int b = cp < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[cp] : -1;
            if (b >= 0) {
                out.write(b);
            } else {
                String marker = "[UNK_BYTE_0x" + HexFormat.of().formatHex(new String(Character.toChars(cp))
                        .getBytes(StandardCharsets.UTF_8)) + tokenText + "]";
                out.writeBytes(marker.getBytes(StandardCharsets.UTF_8));
            }
        }
        return out.toByteArray();
    }
}
