package io.strata.engine.text.jinja;

import java.math.BigDecimal;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Template values with Python's semantics, as Jinja2 gives them: None is Java null, {@link Undefined} a missing
 * variable or attribute, bool {@link Boolean}, int {@link Long}, float {@link Double}, str {@link String}, list
 * {@link List}, tuple {@link Tuple}, dict {@link Map} (insertion order). {@code str}, {@code repr}, equality,
 * ordering, truth and JSON follow Python's rules (e.g. {@code str(None) == "None"}, {@code True == 1},
 * {@code repr(1e16) == "1e+16"}).
 */
final class Values {
    private Values() {
    }

    /** A variable or attribute that does not exist: prints as "", is false, iterates as empty, fails otherwise. */
    record Undefined(String name) {
        String message() {
            return "'" + name + "' is undefined";
        }
    }

    /**
     * markupsafe's {@code Markup}: text marked safe by {@code |safe} or {@code |escape}. It behaves as the str it
     * holds, except that {@code +} with a plain str escapes the plain one (Python's {@code Markup.__add__}); {@code ~}
     * does not, since chat templates render without autoescape.
     */
    record Markup(String text) {}

    /** A Markup's text, anything else unchanged: every operation but {@code +} sees a str. */
    static Object plain(Object o) {
        return o instanceof Markup m ? m.text() : o;
    }

    /** markupsafe's {@code escape}. */
    static String escapeHtml(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> sb.append("&amp;");
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '"' -> sb.append("&#34;");
                case '\'' -> sb.append("&#39;");
                default -> sb.append(c);
            }
        }
        return sb.toString();
    }

    /** A Python tuple. */
    static final class Tuple extends AbstractList<Object> {
        private final List<Object> items;

        Tuple(List<Object> items) {
            this.items = items;
        }

        @Override
        public Object get(int index) {
            return items.get(index);
        }

        @Override
        public int size() {
            return items.size();
        }
    }

    /** Jinja2's {@code namespace(...)}: the one mutable object templates have ({@code set ns.x = ...}). */
    static final class Namespace {
        final Map<String, Object> attributes = new LinkedHashMap<>();
    }

    /** Something a template can call: a macro, a global function or a bound method. */
    interface Callable {
        Object call(List<Object> args, Map<String, Object> kwargs, int line);
    }

    /** Converts caller-supplied Java values (boxed numbers, maps, lists, arrays) to template values. */
    static Object fromJava(Object o) {
        if (o == null || o instanceof String || o instanceof Boolean || o instanceof Long || o instanceof Double
                || o instanceof Undefined || o instanceof Tuple || o instanceof Namespace || o instanceof Callable) {
            return o;
        }
        if (o instanceof Integer || o instanceof Short || o instanceof Byte) return ((Number) o).longValue();
        if (o instanceof Float f) return f.doubleValue();
        if (o instanceof Number n) return n.doubleValue();
        if (o instanceof CharSequence || o instanceof Character) return o.toString();
        if (o instanceof Map<?, ?> m) {
            Map<Object, Object> r = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) r.put(fromJava(e.getKey()), fromJava(e.getValue()));
            return r;
        }
        if (o instanceof Collection<?> c) {
            List<Object> r = new ArrayList<>(c.size());
            for (Object x : c) r.add(fromJava(x));
            return r;
        }
        if (o instanceof Object[] a) return fromJava(Arrays.asList(a));
        if (o instanceof Record) throw new IllegalArgumentException("pass records to a template as maps: " + o.getClass());
        throw new IllegalArgumentException("no template value for " + o.getClass().getName());
    }

    static String typeName(Object o) {
        o = plain(o);
        if (o == null) return "NoneType";
        if (o instanceof Undefined) return "Undefined";
        if (o instanceof Boolean) return "bool";
        if (o instanceof Long) return "int";
        if (o instanceof Double) return "float";
        if (o instanceof String) return "str";
        if (o instanceof Tuple) return "tuple";
        if (o instanceof List) return "list";
        if (o instanceof Map) return "dict";
        if (o instanceof Namespace) return "Namespace";
        if (o instanceof Callable) return "function";
        return o.getClass().getSimpleName();
    }

    static boolean truthy(Object o) {
        o = plain(o);
        if (o == null || o instanceof Undefined) return false;
        if (o instanceof Boolean b) return b;
        if (o instanceof Long l) return l != 0;
        if (o instanceof Double d) return d != 0.0;
        if (o instanceof String s) return !s.isEmpty();
        if (o instanceof List<?> l) return !l.isEmpty();
        if (o instanceof Map<?, ?> m) return !m.isEmpty();
        return true;
    }

    static boolean isNumber(Object o) {
        return o instanceof Long || o instanceof Double || o instanceof Boolean;
    }

    static boolean isInteger(Object o) {
        return o instanceof Long || o instanceof Boolean;
    }

    static long asLong(Object o) {
        if (o instanceof Boolean b) return b ? 1 : 0;
        return (Long) o;
    }

    static double asDouble(Object o) {
        if (o instanceof Boolean b) return b ? 1 : 0;
        return ((Number) o).doubleValue();
    }

    // ---------------------------------------------------------------- str / repr

    static String str(Object o) {
        o = plain(o);
        if (o == null) return "None";
        if (o instanceof Undefined) return "";
        if (o instanceof String s) return s;
        if (o instanceof Boolean b) return b ? "True" : "False";
        if (o instanceof Long l) return l.toString();
        if (o instanceof Double d) return floatRepr(d);
        return repr(o);
    }

    static String repr(Object o) {
        if (o instanceof Markup m) return "Markup(" + reprString(m.text()) + ")";
        if (o instanceof String s) return reprString(s);
        if (o instanceof Tuple t) {
            StringBuilder sb = new StringBuilder("(");
            for (int i = 0; i < t.size(); i++) {
                if (i > 0) sb.append(", ");
                sb.append(repr(t.get(i)));
            }
            return sb.append(t.size() == 1 ? ",)" : ")").toString();
        }
        if (o instanceof List<?> l) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) sb.append(", ");
                sb.append(repr(l.get(i)));
            }
            return sb.append(']').toString();
        }
        if (o instanceof Map<?, ?> m) {
            StringBuilder sb = new StringBuilder("{");
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) sb.append(", ");
                first = false;
                sb.append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
            }
            return sb.append('}').toString();
        }
        if (o instanceof Namespace n) return "<Namespace " + repr(n.attributes) + ">";
        if (o instanceof Undefined) return "Undefined";
        if (o instanceof Callable) return "<function>";
        return str(o);
    }

    /** Python's repr of a str: single quotes unless the text has ' and no ", escapes for the unprintable. */
    static String reprString(String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder sb = new StringBuilder(s.length() + 2).append(quote);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == '\\') sb.append("\\\\");
            else if (cp == quote) sb.append('\\').append(quote);
            else if (cp == '\n') sb.append("\\n");
            else if (cp == '\r') sb.append("\\r");
            else if (cp == '\t') sb.append("\\t");
            else if (!isPrintable(cp)) {
                if (cp < 0x100) sb.append(String.format("\\x%02x", cp));
                else if (cp < 0x10000) sb.append(String.format("\\u%04x", cp));
                else sb.append(String.format("\\U%08x", cp));
            } else {
                sb.appendCodePoint(cp);
            }
        }
        return sb.append(quote).toString();
    }

    /** Python's {@code str.isprintable} for one code point (space is printable, other separators not). */
    private static boolean isPrintable(int cp) {
        if (cp == ' ') return true;
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                 Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /** Python's {@code repr(float)}: the shortest round-tripping digits, exponent form below 1e-4 or from 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
        BigDecimal bd = new BigDecimal(Double.toString(d)).stripTrailingZeros(); // shortest digits (JDK 19+)
        String digits = bd.unscaledValue().abs().toString();
        int exponent = digits.length() - 1 - bd.scale(); // d = 0.digits... * 10^(exponent+1)
        String sign = d < 0 ? "-" : "";
        if (exponent < -4 || exponent >= 16) {
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (Math.abs(exponent) < 10 ? "0" : "")
                    + Math.abs(exponent);
        }
        String plain = bd.abs().toPlainString();
        if (!plain.contains(".")) plain += ".0";
        return sign + plain;
    }

    // ---------------------------------------------------------------- equality and order

    static boolean eq(Object a, Object b) {
        a = plain(a);
        b = plain(b);
        if (a == null || b == null) return a == b;
        if (a instanceof Undefined || b instanceof Undefined) return a instanceof Undefined && b instanceof Undefined;
        if (isNumber(a) && isNumber(b)) {
            if (isInteger(a) && isInteger(b)) return asLong(a) == asLong(b);
            return asDouble(a) == asDouble(b);
        }
        if (a instanceof String || b instanceof String) return a.equals(b);
        if (a instanceof List<?> la && b instanceof List<?> lb) {
            if ((a instanceof Tuple) != (b instanceof Tuple) || la.size() != lb.size()) return false;
            for (int i = 0; i < la.size(); i++) if (!eq(la.get(i), lb.get(i))) return false;
            return true;
        }
        if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
            if (ma.size() != mb.size()) return false;
            for (Map.Entry<?, ?> e : ma.entrySet()) {
                Object k = findKey(mb, e.getKey());
                if (k == MISSING || !eq(e.getValue(), mb.get(k))) return false;
            }
            return true;
        }
        return a == b;
    }

    static final Object MISSING = new Object();

    /** The key of {@code m} equal to {@code key} in Python's sense (1 and 1.0 and True are one key), or MISSING. */
    static Object findKey(Map<?, ?> m, Object key) {
        if (m.containsKey(key)) return key;
        if (isNumber(key)) {
            for (Object k : m.keySet()) if (isNumber(k) && eq(k, key)) return k;
        }
        return MISSING;
    }

    /** Python ordering for {@code < <= > >=}; fails for types Python cannot order. */
    static int compare(Object a, Object b, int line) {
        a = plain(a);
        b = plain(b);
        if (isNumber(a) && isNumber(b)) {
            if (isInteger(a) && isInteger(b)) return Long.compare(asLong(a), asLong(b));
            return Double.compare(asDouble(a), asDouble(b));
        }
        if (a instanceof String sa && b instanceof String sb) return compareCodePoints(sa, sb);
        if (a instanceof List<?> la && b instanceof List<?> lb && (a instanceof Tuple) == (b instanceof Tuple)) {
            for (int i = 0; i < Math.min(la.size(), lb.size()); i++) {
                if (!eq(la.get(i), lb.get(i))) return compare(la.get(i), lb.get(i), line);
            }
            return Integer.compare(la.size(), lb.size());
        }
        if (a instanceof Undefined u) throw new TemplateException(u.message(), line);
        if (b instanceof Undefined u) throw new TemplateException(u.message(), line);
        throw new TemplateException("cannot order " + typeName(a) + " and " + typeName(b), line);
    }

    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) return Integer.compare(ca, cb);
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    // ---------------------------------------------------------------- containers

    /** The items a {@code for} loop or a filter sees: list items, dict keys, string characters; undefined: none. */
    static List<Object> iterate(Object o, int line) {
        o = plain(o);
        if (o instanceof List<?> l) return new ArrayList<>(l);
        if (o instanceof Map<?, ?> m) return new ArrayList<>(m.keySet());
        if (o instanceof String s) {
            List<Object> r = new ArrayList<>();
            s.codePoints().forEach(cp -> r.add(new String(Character.toChars(cp))));
            return r;
        }
        if (o instanceof Undefined) return new ArrayList<>();
        throw new TemplateException("'" + typeName(o) + "' object is not iterable", line);
    }

    static int length(Object o, int line) {
        o = plain(o);
        if (o instanceof String s) return s.codePointCount(0, s.length());
        if (o instanceof List<?> l) return l.size();
        if (o instanceof Map<?, ?> m) return m.size();
        if (o instanceof Undefined) return 0;
        throw new TemplateException("object of type '" + typeName(o) + "' has no len()", line);
    }

    /** Python's {@code x in container}. */
    static boolean contains(Object container, Object x, int line) {
        container = plain(container);
        x = plain(x);
        if (container instanceof String s) {
            if (!(x instanceof String sx)) {
                throw new TemplateException("'in <string>' requires string as left operand, not " + typeName(x), line);
            }
            return s.contains(sx);
        }
        if (container instanceof List<?> l) {
            for (Object o : l) if (eq(o, x)) return true;
            return false;
        }
        if (container instanceof Map<?, ?> m) return findKey(m, x) != MISSING;
        if (container instanceof Undefined) return false; // Jinja2's Undefined iterates as empty
        throw new TemplateException("argument of type '" + typeName(container) + "' is not iterable", line);
    }

    // ---------------------------------------------------------------- JSON (Python's json.dumps)

    /**
     * Python's {@code json.dumps(o, ensure_ascii, indent, separators, sort_keys)} as Hugging Face's {@code tojson}
     * filter calls it (defaults: ensure_ascii False, separators ", " and ": ", or "," and ": " with an indent).
     */
    static String toJson(Object o, boolean ensureAscii, String indent, String itemSeparator, String keySeparator,
                         boolean sortKeys, int line) {
        StringBuilder sb = new StringBuilder();
        writeJson(sb, o, ensureAscii, indent, itemSeparator, keySeparator, sortKeys, 0, line);
        return sb.toString();
    }

    private static void writeJson(StringBuilder sb, Object o, boolean ascii, String indent, String itemSep,
                                  String keySep, boolean sortKeys, int level, int line) {
        o = plain(o);
        if (o == null) {
            sb.append("null");
        } else if (o instanceof Boolean b) {
            sb.append(b ? "true" : "false");
        } else if (o instanceof Long l) {
            sb.append(l);
        } else if (o instanceof Double d) {
            sb.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : floatRepr(d));
        } else if (o instanceof String s) {
            jsonString(sb, s, ascii);
        } else if (o instanceof List<?> l) {
            if (l.isEmpty()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) sb.append(itemSep);
                newline(sb, indent, level + 1);
                writeJson(sb, l.get(i), ascii, indent, itemSep, keySep, sortKeys, level + 1, line);
            }
            newline(sb, indent, level);
            sb.append(']');
        } else if (o instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                sb.append("{}");
                return;
            }
            List<Map.Entry<String, Object>> entries = new ArrayList<>();
            for (Map.Entry<?, ?> e : m.entrySet()) entries.add(Map.entry(jsonKey(e.getKey(), line), e.getValue() == null ? NULL : e.getValue()));
            if (sortKeys) entries.sort((x, y) -> compareCodePoints(x.getKey(), y.getKey()));
            sb.append('{');
            boolean first = true;
            for (Map.Entry<String, Object> e : entries) {
                if (!first) sb.append(itemSep);
                first = false;
                newline(sb, indent, level + 1);
                jsonString(sb, e.getKey(), ascii);
                sb.append(keySep);
                writeJson(sb, e.getValue() == NULL ? null : e.getValue(), ascii, indent, itemSep, keySep, sortKeys, level + 1, line);
            }
            newline(sb, indent, level);
            sb.append('}');
        } else if (o instanceof Namespace n) {
            throw new TemplateException("Object of type Namespace is not JSON serializable", line);
        } else {
            throw new TemplateException("Object of type " + typeName(o) + " is not JSON serializable", line);
        }
    }

    private static final Object NULL = new Object();

    private static String jsonKey(Object k, int line) {
        if (k instanceof String s) return s;
        if (k == null) return "null";
        if (k instanceof Boolean b) return b ? "true" : "false";
        if (k instanceof Long || k instanceof Double) return str(k);
        throw new TemplateException("keys must be str, int, float, bool or None, not " + typeName(k), line);
    }

    private static void newline(StringBuilder sb, String indent, int level) {
        if (indent == null) return;
        sb.append('\n');
        for (int i = 0; i < level; i++) sb.append(indent);
    }

    private static void jsonString(StringBuilder sb, String s, boolean ascii) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || (ascii && c > 0x7E)) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    /** For error messages: a short description of a value. */
    static String describe(Object o) {
        String r = repr(o);
        return r.length() > 40 ? r.substring(0, 40) + "..." : r;
    }

}
