package io.strata.engine.text.jinja;

import io.strata.engine.text.jinja.Values.Callable;
import io.strata.engine.text.jinja.Values.Namespace;
import io.strata.engine.text.jinja.Values.Tuple;
import io.strata.engine.text.jinja.Values.Undefined;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The filters, tests, string / dict methods and global functions that real chat templates use, with Jinja2's (and
 * Hugging Face's) behaviour. Anything else is reported by name: filters and tests when the template is parsed,
 * methods when called.
 */
final class Builtins {
    private Builtins() {
    }

    private static final Set<String> FILTERS = Set.of("trim", "length", "count", "tojson", "default", "d", "first",
            "last", "join", "upper", "lower", "title", "capitalize", "replace", "list", "selectattr", "rejectattr",
            "select", "reject", "map", "string", "int", "float", "abs", "items", "reverse", "sort", "unique", "safe",
            "indent", "min", "max", "sum", "round", "dictsort", "e", "escape", "wordcount", "center");

    private static final Set<String> TESTS = Set.of("defined", "undefined", "none", "string", "number", "integer",
            "float", "boolean", "true", "false", "mapping", "iterable", "sequence", "callable", "sameas", "equalto",
            "eq", "==", "ne", "!=", "lt", "<", "le", "<=", "gt", ">", "ge", ">=", "in", "odd", "even", "divisibleby",
            "lower", "upper");

    static boolean hasFilter(String name) {
        return FILTERS.contains(name);
    }

    static boolean hasTest(String name) {
        return TESTS.contains(name);
    }

    // ---------------------------------------------------------------- filters

    static Object filter(Interpreter in, String name, Object v, List<Object> args, Map<String, Object> kw, int line) {
        switch (name) { // the filters that make or keep markup
            case "safe" -> {
                return v instanceof Values.Markup ? v : new Values.Markup(Values.str(v));
            }
            case "e", "escape" -> {
                return v instanceof Values.Markup ? v : new Values.Markup(Values.escapeHtml(Values.str(v)));
            }
            case "string" -> {
                return v instanceof Values.Markup || v instanceof String ? v : Values.str(v);
            }
            default -> { }
        }
        v = Values.plain(v);
        return switch (name) {
            case "trim" -> {
                String chars = (String) arg(args, kw, 0, "chars", null);
                yield strip(Values.str(v), chars, true, true);
            }
            case "length", "count" -> (long) Values.length(v, line);
            case "tojson" -> {
                Object indent = arg(args, kw, 0, "indent", null);
                String indentText = indent == null ? null
                        : indent instanceof String s ? s : " ".repeat((int) Values.asLong(indent));
                Object seps = kw.get("separators");
                String itemSep = indentText == null ? ", " : ",";
                String keySep = ": ";
                if (seps instanceof List<?> l && l.size() == 2) {
                    itemSep = Values.str(l.get(0));
                    keySep = Values.str(l.get(1));
                }
                boolean ascii = Values.truthy(kw.getOrDefault("ensure_ascii", Boolean.FALSE));
                boolean sort = Values.truthy(kw.getOrDefault("sort_keys", Boolean.FALSE));
                if (v instanceof Undefined u) throw new TemplateException(u.message(), line);
                yield Values.toJson(v, ascii, indentText, itemSep, keySep, sort, line);
            }
            case "default", "d" -> {
                Object fallback = arg(args, kw, 0, "default_value", "");
                boolean bool = Values.truthy(arg(args, kw, 1, "boolean", Boolean.FALSE));
                yield v instanceof Undefined || (bool && !Values.truthy(v)) ? fallback : v;
            }
            case "first" -> {
                List<Object> items = Values.iterate(v, line);
                yield items.isEmpty() ? new Undefined("first of an empty sequence") : items.get(0);
            }
            case "last" -> {
                List<Object> items = Values.iterate(v, line);
                yield items.isEmpty() ? new Undefined("last of an empty sequence") : items.get(items.size() - 1);
            }
            case "join" -> {
                String sep = Values.str(arg(args, kw, 0, "d", ""));
                Object attribute = arg(args, kw, 1, "attribute", null);
                StringBuilder sb = new StringBuilder();
                boolean first = true;
                for (Object o : Values.iterate(v, line)) {
                    if (!first) sb.append(sep);
                    first = false;
                    sb.append(Values.str(attribute == null ? o : in.attribute(o, Values.str(attribute), line)));
                }
                yield sb.toString();
            }
            case "upper" -> Values.str(v).toUpperCase(Locale.ROOT);
            case "lower" -> Values.str(v).toLowerCase(Locale.ROOT);
            case "title" -> title(Values.str(v));
            case "capitalize" -> capitalize(Values.str(v));
            case "replace" -> {
                String s = Values.str(v);
                String old = Values.str(arg(args, kw, 0, "old", ""));
                String rep = Values.str(arg(args, kw, 1, "new", ""));
                Object count = arg(args, kw, 2, "count", null);
                yield replace(s, old, rep, count == null ? -1 : Values.asLong(count));
            }
            case "list" -> Values.iterate(v, line);
            case "selectattr", "rejectattr" -> {
                if (!Values.truthy(v)) yield new ArrayList<>(); // Jinja2 checks "if value" first: none gives nothing
                boolean select = name.equals("selectattr");
                String attribute = Values.str(args.isEmpty() ? null : args.get(0));
                List<Object> out = new ArrayList<>();
                for (Object o : Values.iterate(v, line)) {
                    Object a = in.attribute(o, attribute, line);
                    boolean ok = args.size() < 2 ? Values.truthy(a)
                            : test(Values.str(args.get(1)), a, args.subList(2, args.size()), line);
                    if (ok == select) out.add(o);
                }
                yield out;
            }
            case "select", "reject" -> {
                if (!Values.truthy(v)) yield new ArrayList<>();
                boolean select = name.equals("select");
                List<Object> out = new ArrayList<>();
                for (Object o : Values.iterate(v, line)) {
                    boolean ok = args.isEmpty() ? Values.truthy(o)
                            : test(Values.str(args.get(0)), o, args.subList(1, args.size()), line);
                    if (ok == select) out.add(o);
                }
                yield out;
            }
            case "map" -> {
                List<Object> out = new ArrayList<>();
                if (!Values.truthy(v)) yield out;
                if (kw.containsKey("attribute")) {
                    String attribute = Values.str(kw.get("attribute"));
                    for (Object o : Values.iterate(v, line)) {
                        Object a = in.attribute(o, attribute, line);
                        out.add(a instanceof Undefined && kw.containsKey("default") ? kw.get("default") : a);
                    }
                } else {
                    if (args.isEmpty()) throw new TemplateException("map needs a filter name or attribute=", line);
                    String f = Values.str(args.get(0));
                    if (!hasFilter(f)) throw new TemplateException("unsupported filter '" + f + "'", line);
                    for (Object o : Values.iterate(v, line)) out.add(filter(in, f, o, args.subList(1, args.size()), Map.of(), line));
                }
                yield out;
            }
            case "int" -> toInt(v, arg(args, kw, 0, "default", 0L));
            case "float" -> toFloat(v, arg(args, kw, 0, "default", 0.0));
            case "abs" -> {
                if (v instanceof Double d) yield Math.abs(d);
                if (Values.isInteger(v)) yield Math.abs(Values.asLong(v));
                throw new TemplateException("bad operand type for abs(): '" + Values.typeName(v) + "'", line);
            }
            case "items" -> {
                if (v instanceof Undefined) yield new ArrayList<>();
                if (!(v instanceof Map<?, ?> m)) {
                    throw new TemplateException("can only get item pairs from a mapping, not " + Values.typeName(v), line);
                }
                List<Object> out = new ArrayList<>();
                for (Map.Entry<?, ?> e : m.entrySet()) out.add(new Tuple(java.util.Arrays.asList(e.getKey(), e.getValue())));
                yield out;
            }
            case "reverse" -> {
                if (v instanceof String s) yield new StringBuilder(s).reverse().toString();
                List<Object> items = Values.iterate(v, line);
                java.util.Collections.reverse(items);
                yield items;
            }
            case "sort" -> {
                boolean reverse = Values.truthy(arg(args, kw, 0, "reverse", Boolean.FALSE));
                boolean caseSensitive = Values.truthy(arg(args, kw, 1, "case_sensitive", Boolean.FALSE));
                Object attribute = arg(args, kw, 2, "attribute", null);
                List<Object> items = Values.iterate(v, line);
                items.sort((a, b) -> {
                    Object x = attribute == null ? a : in.attribute(a, Values.str(attribute), line);
                    Object y = attribute == null ? b : in.attribute(b, Values.str(attribute), line);
                    if (!caseSensitive && x instanceof String sx && y instanceof String sy) {
                        x = sx.toLowerCase(Locale.ROOT);
                        y = sy.toLowerCase(Locale.ROOT);
                    }
                    return Values.compare(x, y, line);
                });
                if (reverse) java.util.Collections.reverse(items);
                yield items;
            }
            case "unique" -> {
                List<Object> out = new ArrayList<>();
                for (Object o : Values.iterate(v, line)) {
                    boolean seen = false;
                    for (Object u : out) {
                        if (o instanceof String so && u instanceof String su ? so.equalsIgnoreCase(su) : Values.eq(o, u)) {
                            seen = true;
                            break;
                        }
                    }
                    if (!seen) out.add(o);
                }
                yield out;
            }
            case "indent" -> {
                Object width = arg(args, kw, 0, "width", 4L);
                boolean first = Values.truthy(arg(args, kw, 1, "first", Boolean.FALSE));
                boolean blank = Values.truthy(arg(args, kw, 2, "blank", Boolean.FALSE));
                String pad = width instanceof String s ? s : " ".repeat((int) Values.asLong(width));
                yield indent(Values.str(v), pad, first, blank);
            }
            case "min", "max" -> {
                List<Object> items = Values.iterate(v, line);
                if (items.isEmpty()) yield new Undefined("no " + name + " item, sequence was empty");
                Object best = items.get(0);
                for (Object o : items) {
                    int c = Values.compare(o, best, line);
                    if (name.equals("min") ? c < 0 : c > 0) best = o;
                }
                yield best;
            }
            case "sum" -> {
                Object attribute = arg(args, kw, 0, "attribute", null);
                Object total = arg(args, kw, 1, "start", 0L);
                for (Object o : Values.iterate(v, line)) {
                    total = Interpreter.arithmetic("+", total,
                            attribute == null ? o : in.attribute(o, Values.str(attribute), line), line);
                }
                yield total;
            }
            case "round" -> {
                long precision = Values.asLong(arg(args, kw, 0, "precision", 0L));
                String method = Values.str(arg(args, kw, 1, "method", "common"));
                double x = Values.asDouble(v);
                if (Double.isNaN(x) || Double.isInfinite(x)) yield x;
                java.math.RoundingMode mode = switch (method) {
                    case "ceil" -> java.math.RoundingMode.CEILING;
                    case "floor" -> java.math.RoundingMode.FLOOR;
                    default -> java.math.RoundingMode.HALF_EVEN; // Python's round() of the exact binary value
                };
                yield new java.math.BigDecimal(x).setScale((int) precision, mode).doubleValue();
            }
            case "dictsort" -> {
                if (!(v instanceof Map<?, ?> m)) throw new TemplateException("dictsort needs a mapping", line);
                List<Object> out = new ArrayList<>();
                for (Map.Entry<?, ?> e : m.entrySet()) out.add(new Tuple(java.util.Arrays.asList(e.getKey(), e.getValue())));
                out.sort((a, b) -> {
                    Object x = ((Tuple) a).get(0);
                    Object y = ((Tuple) b).get(0);
                    if (x instanceof String sx && y instanceof String sy) return Values.compareCodePoints(sx.toLowerCase(Locale.ROOT), sy.toLowerCase(Locale.ROOT));
                    return Values.compare(x, y, line);
                });
                yield out;
            }
            case "wordcount" -> (long) Values.str(v).trim().split("\\s+").length;
            case "center" -> {
                String s = Values.str(v);
                int width = (int) Values.asLong(arg(args, kw, 0, "width", 80L));
                if (s.length() >= width) yield s;
                int left = (width - s.length()) / 2 + ((width - s.length()) % 2 == 1 && width % 2 == 1 ? 1 : 0);
                yield " ".repeat(left) + s + " ".repeat(width - s.length() - left);
            }
            default -> throw new TemplateException("unsupported filter '" + name + "'", line);
        };
    }

    private static Object arg(List<Object> args, Map<String, Object> kw, int index, String name, Object fallback) {
        if (index < args.size()) return args.get(index);
        return kw.getOrDefault(name, fallback);
    }

    private static Object toInt(Object v, Object fallback) {
        if (v instanceof Long) return v;
        if (v instanceof Boolean b) return b ? 1L : 0L;
        if (v instanceof Double d) return (long) (double) d;
        if (v instanceof String s) {
            try {
                return Long.parseLong(s.trim().replace("_", ""));
            } catch (NumberFormatException e) {
                try {
                    return (long) Double.parseDouble(s.trim());
                } catch (NumberFormatException e2) {
                    return fallback;
                }
            }
        }
        return fallback;
    }

    private static Object toFloat(Object v, Object fallback) {
        if (v instanceof Double) return v;
        if (Values.isInteger(v)) return (double) Values.asLong(v);
        if (v instanceof String s) {
            try {
                return Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                return fallback;
            }
        }
        return fallback;
    }

    static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean prevCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            boolean cased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
            sb.appendCodePoint(cased ? (prevCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp)) : cp);
            prevCased = cased;
        }
        return sb.toString();
    }

    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        int cp = s.codePointAt(0);
        return new String(Character.toChars(Character.toTitleCase(cp)))
                + s.substring(Character.charCount(cp)).toLowerCase(Locale.ROOT);
    }

    static String replace(String s, String old, String rep, long count) {
        if (count < 0) {
            if (old.isEmpty()) {
                StringBuilder sb = new StringBuilder(rep);
                for (int i = 0; i < s.length(); ) {
                    int cp = s.codePointAt(i);
                    i += Character.charCount(cp);
                    sb.appendCodePoint(cp).append(rep);
                }
                return sb.toString();
            }
            return s.replace(old, rep);
        }
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (long n = 0; n < count; n++) {
            int at = s.indexOf(old, from);
            if (at < 0 || old.isEmpty()) break;
            sb.append(s, from, at).append(rep);
            from = at + old.length();
        }
        return sb.append(s.substring(from)).toString();
    }

    /** Jinja2's {@code indent}: lines after the first get the padding (blank ones only with {@code blank}). */
    private static String indent(String s, String pad, boolean first, boolean blank) {
        List<String> lines = new ArrayList<>(List.of((s + "\n").split("\r\n|\r|\n", -1)));
        lines.remove(lines.size() - 1); // splitlines() of the text plus a newline
        StringBuilder sb = new StringBuilder(lines.isEmpty() ? "" : lines.get(0));
        for (int i = 1; i < lines.size(); i++) {
            sb.append('\n');
            if (blank || !lines.get(i).isEmpty()) sb.append(pad);
            sb.append(lines.get(i));
        }
        return first ? pad + sb : sb.toString();
    }

    /** Python's {@code str.strip([chars])} (whitespace by default). */
    static String strip(String s, String chars, boolean left, boolean right) {
        int a = 0;
        int b = s.length();
        if (left) while (a < b && stripped(s.charAt(a), chars)) a++;
        if (right) while (b > a && stripped(s.charAt(b - 1), chars)) b--;
        return s.substring(a, b);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? Lexer.isSpace(c) : chars.indexOf(c) >= 0;
    }

    // ---------------------------------------------------------------- tests

    static boolean test(String name, Object v, List<Object> args, int line) {
        v = Values.plain(v);
        Object a = args.isEmpty() ? null : args.get(0);
        return switch (name) {
            case "defined" -> !(v instanceof Undefined);
            case "undefined" -> v instanceof Undefined;
            case "none" -> v == null;
            case "string" -> v instanceof String;
            case "number" -> Values.isNumber(v);
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "mapping" -> v instanceof Map;
            case "iterable" -> v instanceof List || v instanceof Map || v instanceof String || v instanceof Undefined;
            case "sequence" -> v instanceof List || v instanceof Map || v instanceof String;
            case "callable" -> v instanceof Callable;
            case "sameas" -> v == a || (v instanceof Boolean && v.equals(a));
            case "equalto", "eq", "==" -> Values.eq(v, a);
            case "ne", "!=" -> !Values.eq(v, a);
            case "lt", "<" -> Values.compare(v, a, line) < 0;
            case "le", "<=" -> Values.compare(v, a, line) <= 0;
            case "gt", ">" -> Values.compare(v, a, line) > 0;
            case "ge", ">=" -> Values.compare(v, a, line) >= 0;
            case "in" -> Values.contains(a, v, line);
            case "odd" -> Values.asLong(v) % 2 != 0;
            case "even" -> Values.asLong(v) % 2 == 0;
            case "divisibleby" -> Values.asLong(v) % Values.asLong(a) == 0;
            case "lower" -> v instanceof String s && s.equals(s.toLowerCase(Locale.ROOT));
            case "upper" -> v instanceof String s && s.equals(s.toUpperCase(Locale.ROOT));
            default -> throw new TemplateException("unsupported test '" + name + "'", line);
        };
    }

    // ---------------------------------------------------------------- methods

    /** A bound method of a string or dict ({@code text.strip()}, {@code d.items()}), or null if the name is not one. */
    static Callable method(Object target, String name) {
        target = Values.plain(target);
        if (target instanceof String s) return stringMethod(s, name);
        if (target instanceof Map<?, ?> m) return dictMethod(m, name);
        return null;
    }

    private static Callable stringMethod(String s, String name) {
        return switch (name) {
            case "strip", "lstrip", "rstrip" -> (args, kw, line) -> strip(s, args.isEmpty() || args.get(0) == null ? null
                    : Values.str(args.get(0)), !name.equals("rstrip"), !name.equals("lstrip"));
            case "startswith", "endswith" -> (args, kw, line) -> {
                if (args.isEmpty()) throw new TemplateException(name + "() takes at least 1 argument", line);
                List<Object> options = args.get(0) instanceof Tuple t ? t : List.of(args.get(0));
                for (Object o : options) {
                    if (!(o instanceof String p)) {
                        throw new TemplateException(name + " first arg must be str or a tuple of str, not " + Values.typeName(o), line);
                    }
                    if (name.equals("startswith") ? s.startsWith(p) : s.endsWith(p)) return true;
                }
                return false;
            };
            case "upper" -> (args, kw, line) -> s.toUpperCase(Locale.ROOT);
            case "lower" -> (args, kw, line) -> s.toLowerCase(Locale.ROOT);
            case "title" -> (args, kw, line) -> title(s);
            case "capitalize" -> (args, kw, line) -> capitalize(s);
            case "split", "rsplit" -> (args, kw, line) -> split(s, args.isEmpty() ? kw.get("sep") : args.get(0),
                    args.size() > 1 ? Values.asLong(args.get(1)) : Values.asLong(kw.getOrDefault("maxsplit", -1L)),
                    name.equals("rsplit"), line);
            case "splitlines" -> (args, kw, line) -> {
                List<Object> out = new ArrayList<>();
                for (String l : s.split("\r\n|\r|\n", -1)) out.add(l);
                if (!out.isEmpty() && ((String) out.get(out.size() - 1)).isEmpty()) out.remove(out.size() - 1);
                return out;
            };
            case "replace" -> (args, kw, line) -> replace(s, Values.str(args.get(0)), Values.str(args.get(1)),
                    args.size() > 2 ? Values.asLong(args.get(2)) : -1);
            case "find", "index" -> (args, kw, line) -> {
                int at = s.indexOf(Values.str(args.get(0)));
                if (at < 0 && name.equals("index")) throw new TemplateException("substring not found", line);
                return (long) (at < 0 ? -1 : s.codePointCount(0, at));
            };
            case "count" -> (args, kw, line) -> {
                String sub = Values.str(args.get(0));
                if (sub.isEmpty()) return (long) s.codePointCount(0, s.length()) + 1;
                long n = 0;
                for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) n++;
                return n;
            };
            case "join" -> (args, kw, line) -> {
                StringBuilder sb = new StringBuilder();
                boolean first = true;
                for (Object o : Values.iterate(args.get(0), line)) {
                    if (!(o instanceof String part)) {
                        throw new TemplateException("sequence item: expected str instance, " + Values.typeName(o) + " found", line);
                    }
                    if (!first) sb.append(s);
                    first = false;
                    sb.append(part);
                }
                return sb.toString();
            };
            case "format" -> (args, kw, line) -> format(s, args, kw, line);
            case "isdigit" -> (args, kw, line) -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> (args, kw, line) -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isspace" -> (args, kw, line) -> !s.isEmpty() && s.chars().allMatch(c -> Lexer.isSpace((char) c));
            default -> null;
        };
    }

    /** Python's {@code str.format} with {@code {}}, {@code {0}}, {@code {name}}, {@code !s} / {@code !r}; no format specs. */
    private static String format(String s, List<Object> args, Map<String, Object> kw, int line) {
        StringBuilder sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '{' && i + 1 < s.length() && s.charAt(i + 1) == '{') {
                sb.append('{');
                i++;
            } else if (c == '}' && i + 1 < s.length() && s.charAt(i + 1) == '}') {
                sb.append('}');
                i++;
            } else if (c == '{') {
                int end = s.indexOf('}', i);
                if (end < 0) throw new TemplateException("single '{' encountered in format string", line);
                String field = s.substring(i + 1, end);
                String conversion = null;
                int bang = field.indexOf('!');
                if (bang >= 0) {
                    conversion = field.substring(bang + 1);
                    field = field.substring(0, bang);
                }
                if (field.contains(":")) throw new TemplateException("unsupported construct 'format spec in str.format'", line);
                Object value;
                if (field.isEmpty()) {
                    if (auto >= args.size()) throw new TemplateException("replacement index " + auto + " out of range", line);
                    value = args.get(auto++);
                } else if (field.chars().allMatch(Character::isDigit)) {
                    int k = Integer.parseInt(field);
                    if (k >= args.size()) throw new TemplateException("replacement index " + k + " out of range", line);
                    value = args.get(k);
                } else if (kw.containsKey(field)) {
                    value = kw.get(field);
                } else {
                    throw new TemplateException("str.format: no argument '" + field + "'", line);
                }
                sb.append("r".equals(conversion) ? Values.repr(value) : Values.str(value));
                i = end;
            } else if (c == '}') {
                throw new TemplateException("single '}' encountered in format string", line);
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static List<Object> split(String s, Object sep, long maxSplit, boolean fromRight, int line) {
        List<Object> out = new ArrayList<>();
        if (sep == null) { // runs of whitespace, no empty strings
            List<String> words = new ArrayList<>();
            int i = 0;
            while (i < s.length()) {
                while (i < s.length() && Lexer.isSpace(s.charAt(i))) i++;
                if (i >= s.length()) break;
                int j = i;
                while (j < s.length() && !Lexer.isSpace(s.charAt(j))) j++;
                words.add(s.substring(i, j));
                i = j;
            }
            if (maxSplit >= 0 && words.size() > maxSplit + 1) {
                throw new TemplateException("unsupported construct 'split(None, maxsplit)'", line);
            }
            out.addAll(words);
            return out;
        }
        String d = Values.str(sep);
        if (d.isEmpty()) throw new TemplateException("empty separator", line);
        if (fromRight && maxSplit >= 0) {
            List<Object> rev = new ArrayList<>();
            int end = s.length();
            long n = 0;
            while (n < maxSplit) {
                int at = s.lastIndexOf(d, end - d.length());
                if (at < 0 || end - d.length() < 0) break;
                rev.add(0, s.substring(at + d.length(), end));
                end = at;
                n++;
            }
            rev.add(0, s.substring(0, end));
            return rev;
        }
        int from = 0;
        long n = 0;
        while (maxSplit < 0 || n < maxSplit) {
            int at = s.indexOf(d, from);
            if (at < 0) break;
            out.add(s.substring(from, at));
            from = at + d.length();
            n++;
        }
        out.add(s.substring(from));
        return out;
    }

    private static Callable dictMethod(Map<?, ?> m, String name) {
        return switch (name) {
            case "items" -> (args, kw, line) -> {
                List<Object> out = new ArrayList<>();
                for (Map.Entry<?, ?> e : m.entrySet()) out.add(new Tuple(java.util.Arrays.asList(e.getKey(), e.getValue())));
                return out;
            };
            case "keys" -> (args, kw, line) -> new ArrayList<Object>(m.keySet());
            case "values" -> (args, kw, line) -> new ArrayList<Object>(m.values());
            case "get" -> (args, kw, line) -> {
                Object k = Values.findKey(m, args.get(0));
                return k != Values.MISSING ? m.get(k) : args.size() > 1 ? args.get(1) : null;
            };
            default -> null;
        };
    }

    // ---------------------------------------------------------------- globals

    /** Hugging Face's and Jinja2's global functions; {@code strftime_now} reads {@code clock}. */
    static Map<String, Object> globals(java.time.Clock clock) {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("raise_exception", (Callable) (args, kw, line) -> {
            throw new TemplateException(args.isEmpty() ? "raise_exception()" : Values.str(args.get(0)), line, true);
        });
        g.put("namespace", (Callable) (args, kw, line) -> {
            Namespace ns = new Namespace();
            for (Object a : args) {
                if (a instanceof Map<?, ?> m) for (Map.Entry<?, ?> e : m.entrySet()) ns.attributes.put(Values.str(e.getKey()), e.getValue());
            }
            ns.attributes.putAll(kw);
            return ns;
        });
        g.put("range", (Callable) (args, kw, line) -> {
            long start = 0;
            long stop;
            long step = 1;
            if (args.size() == 1) {
                stop = Values.asLong(args.get(0));
            } else {
                start = Values.asLong(args.get(0));
                stop = Values.asLong(args.get(1));
                if (args.size() > 2) step = Values.asLong(args.get(2));
            }
            if (step == 0) throw new TemplateException("range() arg 3 must not be zero", line);
            List<Object> out = new ArrayList<>();
            for (long x = start; step > 0 ? x < stop : x > stop; x += step) {
                out.add(x);
                if (out.size() > 1_000_000) throw new TemplateException("range() too large for a template", line);
            }
            return out;
        });
        g.put("dict", (Callable) (args, kw, line) -> new LinkedHashMap<Object, Object>(kw));
        g.put("strftime_now", (Callable) (args, kw, line) -> strftime(Values.str(args.get(0)), LocalDateTime.now(clock), line));
        return g;
    }

    /** C's strftime for the directives chat templates use ({@code %d %b %Y} and friends). */
    static String strftime(String format, LocalDateTime t, int line) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 >= format.length()) {
                sb.append(c);
                continue;
            }
            char d = format.charAt(++i);
            switch (d) {
                case 'd' -> sb.append(String.format("%02d", t.getDayOfMonth()));
                case '-' -> {
                    char e = format.charAt(++i);
                    if (e == 'd') sb.append(t.getDayOfMonth());
                    else if (e == 'm') sb.append(t.getMonthValue());
                    else throw new TemplateException("unsupported strftime directive '%-" + e + "'", line);
                }
                case 'm' -> sb.append(String.format("%02d", t.getMonthValue()));
                case 'Y' -> sb.append(t.getYear());
                case 'y' -> sb.append(String.format("%02d", t.getYear() % 100));
                case 'b' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'H' -> sb.append(String.format("%02d", t.getHour()));
                case 'M' -> sb.append(String.format("%02d", t.getMinute()));
                case 'S' -> sb.append(String.format("%02d", t.getSecond()));
                case 'j' -> sb.append(String.format("%03d", t.getDayOfYear()));
                case '%' -> sb.append('%');
                default -> throw new TemplateException("unsupported strftime directive '%" + d + "'", line);
            }
        }
        return sb.toString();
    }
}
