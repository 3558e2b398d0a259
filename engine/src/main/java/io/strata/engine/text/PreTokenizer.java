package io.strata.engine.text;

import java.util.List;
import java.util.Locale;

/**
 * The byte-level BPE pre-tokenizers named by {@code tokenizer.ggml.pre}: each splits text (as code points) into the
 * words that BPE then merges within. They follow llama.cpp's hand-written matchers for the split regexes exactly
 * (including where those differ from a regex engine, e.g. a lone {@code '} before letters), not a regex library.
 *
 * <p>Each kind is a sequence of passes; a pass splits every piece the previous pass produced. Only the "default"
 * kind has more than one pass.
 */
enum PreTokenizer {
    /** Llama 3: {@code (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+}. */
    LLAMA3,
    /** Qwen2: as Llama 3 but single digits ({@code \p{N}}). */
    QWEN2,
    /** GPT-2: {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)}. */
    GPT2,
    /**
     * llama.cpp's fallback ({@code default}, or no {@code tokenizer.ggml.pre}): punctuation runs
     * {@code [\p{P}$+<=>^~|]+}, then the GPT-2 split, then {@code \p{N}+}, then {@code [0-9][0-9][0-9]}.
     */
    DEFAULT;

    /** How llama.cpp configures a BPE vocabulary for one {@code tokenizer.ggml.pre} value. */
    record Config(PreTokenizer kind, boolean ignoreMerges, boolean cleanSpaces) {}

    /** The {@code tokenizer.ggml.pre} values understood here, as llama.cpp maps them. */
    static final List<String> SUPPORTED = List.of("llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx",
            "smaug-bpe", "qwen2", "deepseek-r1-qwen", "stablelm2", "gpt-2", "phi-2", "mpt", "olmo", "jais", "default");

    /** The configuration for a {@code tokenizer.ggml.pre} value (null or empty: llama.cpp's default), or null if unknown. */
    static Config config(String pre) {
        if (pre == null || pre.isEmpty()) return new Config(DEFAULT, false, true);
        return switch (pre.toLowerCase(Locale.ROOT)) {
            case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral" -> new Config(LLAMA3, true, true);
            case "dbrx", "smaug-bpe" -> new Config(LLAMA3, false, true);
            case "qwen2", "deepseek-r1-qwen" -> new Config(QWEN2, false, false);
            case "stablelm2" -> new Config(QWEN2, false, true);
            case "gpt-2", "phi-2", "mpt", "olmo", "jais" -> new Config(GPT2, false, true);
            case "default" -> new Config(DEFAULT, false, true);
            default -> null;
        };
    }

    /**
     * Splits {@code cps[0, n)} into words; appends the end offset (in code points) of each word to {@code ends}.
     * {@code scratch} is reused between passes.
     */
    void split(int[] cps, int n, IntList ends, IntList scratch) {
        ends.clear();
        if (n == 0) return;
        switch (this) {
            case LLAMA3 -> llama3(cps, 0, n, 3, ends);
            case QWEN2 -> llama3(cps, 0, n, 1, ends);
            case GPT2 -> gpt2(cps, 0, n, ends);
            case DEFAULT -> {
                scratch.clear();
                punctuationRuns(cps, 0, n, scratch);
                ends.clear();
                int start = 0;
                for (int i = 0; i < scratch.size; i++) {
                    gpt2(cps, start, scratch.data[i], ends);
                    start = scratch.data[i];
                }
                scratch.clear();
                start = 0;
                for (int i = 0; i < ends.size; i++) {
                    numberRuns(cps, start, ends.data[i], scratch);
                    start = ends.data[i];
                }
                ends.clear();
                start = 0;
                for (int i = 0; i < scratch.size; i++) {
                    digitTriples(cps, start, scratch.data[i], ends);
                    start = scratch.data[i];
                }
            }
        }
    }

    // ---------------------------------------------------------------- the passes
    // Each pass reads cps[from, to) only: positions outside are "out of range" (flags 0, code point -1), as llama.cpp
    // treats the edges of the piece it splits. Invariant at the top of each loop: the last emitted end == pos.

    private static int cp(int[] cps, int from, int to, int p) {
        return p >= from && p < to ? cps[p] : -1;
    }

    private static int fl(int[] cps, int from, int to, int p) {
        return p >= from && p < to ? CodePoints.flags(cps[p]) : 0;
    }

    private static int asciiLower(int c) {
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    }

    private static boolean wsLetterNumber(int f) {
        return (f & (CodePoints.WHITESPACE | CodePoints.LETTER | CodePoints.NUMBER)) != 0;
    }

    /** Llama 3 ({@code digits} = 3) and Qwen2 ({@code digits} = 1). */
    private static void llama3(int[] cps, int from, int to, int digits, IntList ends) {
        int pos = from;
        while (pos < to) {
            int c = cps[pos];
            int f = CodePoints.flags(c);
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if (c == '\'' && pos + 1 < to) {
                int n1 = asciiLower(cps[pos + 1]);
                if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                    pos += 2;
                    ends.add(pos);
                    continue;
                }
                if (pos + 2 < to) {
                    int n2 = asciiLower(cps[pos + 2]);
                    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                        pos += 3;
                        ends.add(pos);
                        continue;
                    }
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (!(c == '\r' || c == '\n' || CodePoints.isNumber(f))) {
                if (CodePoints.isLetter(f) || CodePoints.isLetter(fl(cps, from, to, pos + 1))) {
                    pos++;
                    while (CodePoints.isLetter(fl(cps, from, to, pos))) pos++;
                    ends.add(pos);
                    continue;
                }
            }
            // \p{N}{1,3} (Llama 3) or \p{N} (Qwen2)
            if (CodePoints.isNumber(f)) {
                int run = pos;
                while (CodePoints.isNumber(fl(cps, from, to, pos))) {
                    pos++;
                    if (pos - run >= digits) {
                        ends.add(pos);
                        run = pos;
                    }
                }
                if (pos > run) ends.add(pos);
                continue;
            }
            // <space>?[^\s\p{L}\p{N}]+[\r\n]*
            int f2 = c == ' ' ? fl(cps, from, to, pos + 1) : f;
            if (!wsLetterNumber(f2) && f != 0) {
                if (c == ' ') pos++;
                while (!wsLetterNumber(f2) && f2 != 0) f2 = fl(cps, from, to, ++pos);
                int c2 = cp(cps, from, to, pos);
                while (c2 == '\r' || c2 == '\n') c2 = cp(cps, from, to, ++pos);
                ends.add(pos);
                continue;
            }
            // \s*[\r\n]+ , \s+(?!\S) , \s+
            int spaces = 0;
            int lastLineBreakEnd = -1;
            while (CodePoints.isWhitespace(fl(cps, from, to, pos + spaces))) {
                int c2 = cps[pos + spaces];
                if (c2 == '\r' || c2 == '\n') lastLineBreakEnd = pos + spaces + 1;
                spaces++;
            }
            if (lastLineBreakEnd >= 0) {
                pos = lastLineBreakEnd;
            } else if (spaces > 1 && pos + spaces < to) {
                pos += spaces - 1;
            } else if (spaces > 0) {
                pos += spaces;
            } else {
                pos++; // no rule matched: the code point stands alone
            }
            ends.add(pos);
        }
    }

    private static void gpt2(int[] cps, int from, int to, IntList ends) {
        int pos = from;
        while (pos < to) {
            int c = cps[pos];
            int f = CodePoints.flags(c);
            // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
            if (c == '\'' && pos + 1 < to) {
                int n1 = cps[pos + 1];
                if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                    pos += 2;
                    ends.add(pos);
                    continue;
                }
                if (pos + 2 < to) {
                    int n2 = cps[pos + 2];
                    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                        pos += 3;
                        ends.add(pos);
                        continue;
                    }
                }
            }
            int f2 = c == ' ' ? fl(cps, from, to, pos + 1) : f;
            // <space>?\p{L}+ , <space>?\p{N}+ , <space>?[^\s\p{L}\p{N}]+
            if (CodePoints.isLetter(f2)) {
                if (c == ' ') pos++;
                while (CodePoints.isLetter(f2)) f2 = fl(cps, from, to, ++pos);
                ends.add(pos);
                continue;
            }
            if (CodePoints.isNumber(f2)) {
                if (c == ' ') pos++;
                while (CodePoints.isNumber(f2)) f2 = fl(cps, from, to, ++pos);
                ends.add(pos);
                continue;
            }
            if (!wsLetterNumber(f2) && f2 != 0) {
                if (c == ' ') pos++;
                while (!wsLetterNumber(f2) && f2 != 0) f2 = fl(cps, from, to, ++pos);
                ends.add(pos);
                continue;
            }
            // \s+(?!\S) , \s+
            int spaces = 0;
            while (CodePoints.isWhitespace(fl(cps, from, to, pos + spaces))) spaces++;
            if (spaces > 1 && pos + spaces < to) {
                pos += spaces - 1;
            } else if (spaces > 0) {
                pos += spaces;
            } else {
                pos++;
            }
            ends.add(pos);
        }
    }

    /** {@code [\p{P}\$\+<=>\^~\|]+}: runs become pieces of their own, the text between them stays as pieces. */
    private static void punctuationRuns(int[] cps, int from, int to, IntList ends) {
        int i = from;
        while (i < to) {
            if (isDefaultPunctuation(cps[i])) {
                if (i > from && (ends.size == 0 || ends.data[ends.size - 1] != i)) ends.add(i);
                while (i < to && isDefaultPunctuation(cps[i])) i++;
                ends.add(i);
            } else {
                i++;
            }
        }
        if (ends.size == 0 || ends.data[ends.size - 1] != to) ends.add(to);
    }

    private static boolean isDefaultPunctuation(int c) {
        return CodePoints.isPunctuation(CodePoints.flags(c)) || c == '$' || c == '+' || c == '<' || c == '='
                || c == '>' || c == '^' || c == '~' || c == '|';
    }

    /** {@code \p{N}+} isolated. */
    private static void numberRuns(int[] cps, int from, int to, IntList ends) {
        int i = from;
        while (i < to) {
            if (CodePoints.isNumber(CodePoints.flags(cps[i]))) {
                if (i > from && (ends.size == 0 || ends.data[ends.size - 1] != i)) ends.add(i);
                while (i < to && CodePoints.isNumber(CodePoints.flags(cps[i]))) i++;
                ends.add(i);
            } else {
                i++;
            }
        }
        if (ends.size == 0 || ends.data[ends.size - 1] != to) ends.add(to);
    }

    /** {@code [0-9][0-9][0-9]} isolated, leftmost first, without overlap. */
    private static void digitTriples(int[] cps, int from, int to, IntList ends) {
        int i = from;
        while (i + 3 <= to) {
            if (isAsciiDigit(cps[i]) && isAsciiDigit(cps[i + 1]) && isAsciiDigit(cps[i + 2])) {
                if (i > from && (ends.size == 0 || ends.data[ends.size - 1] != i)) ends.add(i);
                i += 3;
                ends.add(i);
            } else {
                i++;
            }
        }
        if (ends.size == 0 || ends.data[ends.size - 1] != to) ends.add(to);
    }

    private static boolean isAsciiDigit(int c) {
        return c >= '0' && c <= '9';
    }
}
