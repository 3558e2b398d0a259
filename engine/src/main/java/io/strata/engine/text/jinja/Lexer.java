package io.strata.engine.text.jinja;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Splits a template into text and tag tokens the way Jinja2's lexer does with the settings Hugging Face uses for
 * chat templates: {@code trim_blocks} (the first newline after a block or comment tag is dropped),
 * {@code lstrip_blocks} (spaces and tabs before a block or comment tag at the start of a line are dropped),
 * {@code keep_trailing_newline = False}, and the {@code -} / {@code +} whitespace controls.
 */
final class Lexer {

    enum Type { DATA, BLOCK_BEGIN, BLOCK_END, VAR_BEGIN, VAR_END, NAME, STRING, INT, FLOAT, OP, EOF }

    record Token(Type type, String value, int line) {
        boolean is(Type t, String v) {
            return type == t && value.equals(v);
        }

        boolean isName(String v) {
            return type == Type.NAME && value.equals(v);
        }

        boolean isOp(String v) {
            return type == Type.OP && value.equals(v);
        }
    }

    private static final String[] OPERATORS = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
        ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", ";"};

    private final String src;
    private final int[] lineStarts;
    private final List<Token> out = new ArrayList<>();
    private int pos;

    private Lexer(String source) {
        this.src = normalizeNewlines(source);
        IntArray starts = new IntArray();
        starts.add(0);
        for (int i = 0; i < src.length(); i++) if (src.charAt(i) == '\n') starts.add(i + 1);
        lineStarts = starts.toArray();
    }

    static List<Token> tokenize(String source) {
        Lexer l = new Lexer(source);
        l.run();
        return l.out;
    }

    /** Python's {@code "\n".join(source.splitlines())}: every line break becomes \n, one trailing break is dropped. */
    static String normalizeNewlines(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c == '\r') {
                if (i + 1 < n && s.charAt(i + 1) == '\n') i++;
                if (i + 1 < n) sb.append('\n');
            } else if (c == '\n' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85
                    || c == 0x2028 || c == 0x2029) {
                if (i + 1 < n) sb.append('\n');
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private int line(int at) {
        int i = Arrays.binarySearch(lineStarts, at);
        return i >= 0 ? i + 1 : -i - 1;
    }

    private void run() {
        boolean lineStarting = true;
        while (pos < src.length()) {
            int tag = nextTagStart(pos);
            if (tag < 0) {
                out.add(new Token(Type.DATA, src.substring(pos), line(pos)));
                pos = src.length();
                break;
            }
            char kind = src.charAt(tag + 1);
            char sign = tag + 2 < src.length() ? src.charAt(tag + 2) : 0;
            if (sign != '-' && sign != '+') sign = 0;
            String text = src.substring(pos, tag);
            if (sign == '-') {
                text = rstrip(text);
            } else if (sign != '+' && kind != '{') { // lstrip_blocks: block and comment tags only
                int lineStart = text.lastIndexOf('\n') + 1;
                if ((lineStart > 0 || lineStarting) && lineStart < text.length() && isAllSpace(text, lineStart)) {
                    text = text.substring(0, lineStart);
                }
            }
            if (!text.isEmpty()) out.add(new Token(Type.DATA, text, line(pos)));
            int p = tag + 2 + (sign != 0 ? 1 : 0);
            int endMatch;
            if (kind == '#') {
                int end = src.indexOf("#}", p);
                if (end < 0) throw new TemplateException("missing end of comment tag", line(tag));
                char endSign = src.charAt(end - 1);
                endMatch = end + 2;
                if (endSign == '-' && end - 1 >= p) endMatch = skipSpace(endMatch);
                else if (endSign != '+' && endMatch < src.length() && src.charAt(endMatch) == '\n') endMatch++;
            } else {
                boolean block = kind == '%';
                out.add(new Token(block ? Type.BLOCK_BEGIN : Type.VAR_BEGIN, block ? "{%" : "{{", line(tag)));
                if (block) rejectRaw(p, tag);
                endMatch = lexInside(p, block);
            }
            lineStarting = endMatch > 0 && src.charAt(endMatch - 1) == '\n';
            pos = endMatch;
        }
        out.add(new Token(Type.EOF, "", line(src.length())));
    }

    private void rejectRaw(int p, int tag) {
        int i = skipSpace(p);
        if (src.startsWith("raw", i) && (i + 3 >= src.length() || !Character.isJavaIdentifierPart(src.charAt(i + 3)))) {
            throw new TemplateException("unsupported statement 'raw'", line(tag));
        }
    }

    private int nextTagStart(int from) {
        for (int i = src.indexOf('{', from); i >= 0 && i + 1 < src.length(); i = src.indexOf('{', i + 1)) {
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return -1;
    }

    /** Lexes the expression inside a tag; returns the position after its end tag (and stripped whitespace). */
    private int lexInside(int p, boolean block) {
        int depth = 0;
        int start = p;
        while (true) {
            while (p < src.length() && isSpace(src.charAt(p))) p++;
            if (p >= src.length()) {
                throw new TemplateException("missing end of " + (block ? "block tag '%}'" : "variable tag '}}'"), line(start));
            }
            if (depth == 0) {
                String end = block ? "%}" : "}}";
                if (src.startsWith("-" + end, p)) {
                    out.add(new Token(block ? Type.BLOCK_END : Type.VAR_END, end, line(p)));
                    return skipSpace(p + 3);
                }
                if (block && src.startsWith("+" + end, p)) {
                    out.add(new Token(Type.BLOCK_END, end, line(p)));
                    return p + 3;
                }
                if (src.startsWith(end, p)) {
                    out.add(new Token(block ? Type.BLOCK_END : Type.VAR_END, end, line(p)));
                    int after = p + 2;
                    if (block && after < src.length() && src.charAt(after) == '\n') after++; // trim_blocks
                    return after;
                }
            }
            char c = src.charAt(p);
            if (Character.isLetter(c) || c == '_') {
                int e = p + 1;
                while (e < src.length() && (Character.isLetterOrDigit(src.charAt(e)) || src.charAt(e) == '_')) e++;
                out.add(new Token(Type.NAME, src.substring(p, e), line(p)));
                p = e;
            } else if (Character.isDigit(c)) {
                p = number(p);
            } else if (c == '\'' || c == '"') {
                p = string(p, c);
            } else {
                String op = null;
                for (String o : OPERATORS) {
                    if (src.startsWith(o, p)) {
                        op = o;
                        break;
                    }
                }
                if (op == null) throw new TemplateException("unexpected character '" + c + "' in a tag", line(p));
                if (op.equals("(") || op.equals("[") || op.equals("{")) depth++;
                if (op.equals(")") || op.equals("]") || op.equals("}")) {
                    if (depth == 0) throw new TemplateException("unexpected '" + op + "'", line(p));
                    depth--;
                }
                out.add(new Token(Type.OP, op, line(p)));
                p += op.length();
            }
        }
    }

    private int number(int p) {
        int e = p;
        while (e < src.length() && (Character.isDigit(src.charAt(e)) || src.charAt(e) == '_')) e++;
        boolean isFloat = false;
        if (e + 1 < src.length() && src.charAt(e) == '.' && Character.isDigit(src.charAt(e + 1))) {
            isFloat = true;
            e++;
            while (e < src.length() && (Character.isDigit(src.charAt(e)) || src.charAt(e) == '_')) e++;
        }
        if (e < src.length() && (src.charAt(e) == 'e' || src.charAt(e) == 'E')) {
            int f = e + 1;
            if (f < src.length() && (src.charAt(f) == '+' || src.charAt(f) == '-')) f++;
            if (f < src.length() && Character.isDigit(src.charAt(f))) {
                isFloat = true;
                e = f;
                while (e < src.length() && Character.isDigit(src.charAt(e))) e++;
            }
        }
        out.add(new Token(isFloat ? Type.FLOAT : Type.INT, src.substring(p, e).replace("_", ""), line(p)));
        return e;
    }

    /** A Python string literal with the usual backslash escapes (unknown escapes stay as written, as in Python). */
    private int string(int p, char quote) {
        StringBuilder sb = new StringBuilder();
        int i = p + 1;
        while (true) {
            if (i >= src.length()) throw new TemplateException("unterminated string", line(p));
            char c = src.charAt(i);
            if (c == quote) break;
            if (c == '\\' && i + 1 < src.length()) {
                char e = src.charAt(i + 1);
                i += 2;
                switch (e) {
                    case 'n' -> sb.append('\n');
                    case 't' -> sb.append('\t');
                    case 'r' -> sb.append('\r');
                    case '\\' -> sb.append('\\');
                    case '\'' -> sb.append('\'');
                    case '"' -> sb.append('"');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'v' -> sb.append('\u000B');
                    case 'a' -> sb.append('\u0007');
                    case '0' -> sb.append('\0');
                    case '\n' -> { } // line continuation
                    case 'x' -> {
                        sb.append((char) Integer.parseInt(src.substring(i, i + 2), 16));
                        i += 2;
                    }
                    case 'u' -> {
                        sb.append((char) Integer.parseInt(src.substring(i, i + 4), 16));
                        i += 4;
                    }
                    case 'U' -> {
                        sb.appendCodePoint(Integer.parseInt(src.substring(i, i + 8), 16));
                        i += 8;
                    }
                    default -> sb.append('\\').append(e);
                }
                continue;
            }
            sb.append(c);
            i++;
        }
        out.add(new Token(Type.STRING, sb.toString(), line(p)));
        return i + 1;
    }

    private int skipSpace(int p) {
        while (p < src.length() && isSpace(src.charAt(p))) p++;
        return p;
    }

    private static String rstrip(String s) {
        int e = s.length();
        while (e > 0 && isSpace(s.charAt(e - 1))) e--;
        return s.substring(0, e);
    }

    private static boolean isAllSpace(String s, int from) {
        for (int i = from; i < s.length(); i++) if (!isSpace(s.charAt(i))) return false;
        return true;
    }

    /** Python's {@code str.isspace} for one character (what {@code \s} and {@code rstrip()} mean there). */
    static boolean isSpace(char c) {
        return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                || c == 0x3000;
    }

    /** A growable int array (the lexer's line starts). */
    private static final class IntArray {
        private int[] a = new int[64];
        private int n;

        void add(int v) {
            if (n == a.length) a = Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
