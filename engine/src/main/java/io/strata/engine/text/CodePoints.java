package io.strata.engine.text;

/**
 * Code point classes as llama.cpp's pre-tokenizers see them: one general category group (undefined, number, letter,
 * separator, mark, punctuation, symbol, control) plus the Unicode White_Space property.
 *
 * <p>llama.cpp carries its own tables, generated from Unicode 15.1. The JDK's {@link Character} is newer (Unicode
 * 16.0 in JDK 25), so the code points first assigned in 16.0 are listed here and kept "undefined", as llama.cpp has
 * them; a test compares every code point with a dump of llama.cpp's table ({@code fixtures/vocab/}), so a JDK with a
 * later Unicode version fails that test instead of silently splitting text differently.
 */
final class CodePoints {

    static final int UNDEFINED = 0x01;
    static final int NUMBER = 0x02;
    static final int LETTER = 0x04;
    static final int SEPARATOR = 0x08;
    static final int MARK = 0x10;
    static final int PUNCTUATION = 0x20;
    static final int SYMBOL = 0x40;
    static final int CONTROL = 0x80;
    /** Added to the category for the 25 White_Space code points. */
    static final int WHITESPACE = 0x100;

    /** Inclusive ranges of code points assigned in Unicode 16.0 (DerivedAge), which llama.cpp does not know yet. */
    private static final int[] UNICODE_16_ADDITIONS = {
        0x897, 0x897, 0x1B4E, 0x1B4F, 0x1B7F, 0x1B7F, 0x1C89, 0x1C8A, 0x2427, 0x2429, 0x31E4, 0x31E5,
        0xA7CB, 0xA7CD, 0xA7DA, 0xA7DC, 0x105C0, 0x105F3, 0x10D40, 0x10D65, 0x10D69, 0x10D85, 0x10D8E, 0x10D8F,
        0x10EC2, 0x10EC4, 0x10EFC, 0x10EFC, 0x11380, 0x11389, 0x1138B, 0x1138B, 0x1138E, 0x1138E, 0x11390, 0x113B5,
        0x113B7, 0x113C0, 0x113C2, 0x113C2, 0x113C5, 0x113C5, 0x113C7, 0x113CA, 0x113CC, 0x113D5, 0x113D7, 0x113D8,
        0x113E1, 0x113E2, 0x116D0, 0x116E3, 0x11BC0, 0x11BE1, 0x11BF0, 0x11BF9, 0x11F5A, 0x11F5A, 0x13460, 0x143FA,
        0x16100, 0x16139, 0x16D40, 0x16D79, 0x18CFF, 0x18CFF, 0x1CC00, 0x1CCF9, 0x1CD00, 0x1CEB3, 0x1E5D0, 0x1E5FA,
        0x1E5FF, 0x1E5FF, 0x1F8B2, 0x1F8BB, 0x1F8C0, 0x1F8C1, 0x1FA89, 0x1FA89, 0x1FA8F, 0x1FA8F, 0x1FABE, 0x1FABE,
        0x1FAC6, 0x1FAC6, 0x1FADC, 0x1FADC, 0x1FADF, 0x1FADF, 0x1FAE9, 0x1FAE9, 0x1FBCB, 0x1FBEF,
    };

    /** Flags of the Basic Multilingual Plane, looked up on every character of every prompt. */
    private static final short[] BMP = new short[0x10000];

    static {
        for (int c = 0; c < BMP.length; c++) BMP[c] = (short) compute(c);
    }

    private CodePoints() {
    }

    /** Category | WHITESPACE for a code point; out-of-range values are UNDEFINED, as in llama.cpp. */
    static int flags(int cp) {
        if (cp >= 0 && cp < 0x10000) return BMP[cp];
        return compute(cp);
    }

    static boolean isLetter(int flags) {
        return (flags & LETTER) != 0;
    }

    static boolean isNumber(int flags) {
        return (flags & NUMBER) != 0;
    }

    static boolean isWhitespace(int flags) {
        return (flags & WHITESPACE) != 0;
    }

    static boolean isPunctuation(int flags) {
        return (flags & PUNCTUATION) != 0;
    }

    private static int compute(int cp) {
        if (cp < 0 || cp > Character.MAX_CODE_POINT) return UNDEFINED;
        int category = isUnicode16Addition(cp) ? UNDEFINED : category(Character.getType(cp));
        return isWhiteSpaceProperty(cp) ? category | WHITESPACE : category;
    }

    private static boolean isUnicode16Addition(int cp) {
        if (cp < 0x897) return false;
        for (int i = 0; i < UNICODE_16_ADDITIONS.length; i += 2) {
            if (cp >= UNICODE_16_ADDITIONS[i] && cp <= UNICODE_16_ADDITIONS[i + 1]) return true;
        }
        return false;
    }

    /** Unicode's White_Space property (PropList.txt), which is what llama.cpp's {@code \s} means. */
    private static boolean isWhiteSpaceProperty(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                || cp == 0x3000;
    }

    private static int category(int javaType) {
        return switch (javaType) {
            case Character.UNASSIGNED -> UNDEFINED;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                 Character.MODIFIER_LETTER, Character.OTHER_LETTER -> LETTER;
            case Character.SPACE_SEPARATOR, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR -> SEPARATOR;
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.COMBINING_SPACING_MARK -> MARK;
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                 Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
                 Character.OTHER_PUNCTUATION -> PUNCTUATION;
            case Character.MATH_SYMBOL, Character.CURRENCY_SYMBOL, Character.MODIFIER_SYMBOL,
                 Character.OTHER_SYMBOL -> SYMBOL;
            default -> CONTROL; // Cc, Cf, Cs, Co
        };
    }
}
