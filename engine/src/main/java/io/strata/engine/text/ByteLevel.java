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

    /** The bytes {@code s[from, to)} stands for, or null if a character is not in the alphabet. */
    static byte[] decode(String s, int from, int to) {
        byte[] out = new byte[to - from];
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b < 0) return null;
            out[i - from] = (byte) b;
        }
        return out;
    }

    static byte[] decode(String s) {
        return decode(s, 0, s.length());
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
