package io.strata.engine.text.jinja;

import io.strata.engine.text.jinja.Node.Expr;
import io.strata.engine.text.jinja.Node.Stmt;
import io.strata.engine.text.jinja.Values.Callable;
import io.strata.engine.text.jinja.Values.Namespace;
import io.strata.engine.text.jinja.Values.Tuple;
import io.strata.engine.text.jinja.Values.Undefined;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders a parsed template. Scopes follow Jinja2: the template's top level is one scope ({@code set} there is
 * visible everywhere after it); each {@code for} iteration and each macro call gets a fresh child scope, so a
 * {@code set} inside a loop body does not survive the iteration (templates use {@code namespace()} for that);
 * {@code if} makes no scope.
 */
final class Interpreter {
    /** A variable scope. */
    private static final class Scope {
        final Scope parent;
        final Map<String, Object> vars = new HashMap<>();

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object lookup(String name) {
            for (Scope s = this; s != null; s = s.parent) {
                if (s.vars.containsKey(name)) return s.vars.get(name);
            }
            return Values.MISSING;
        }
    }

    /** Thrown through the loop body by {@code break} / {@code continue}. */
    private static final class LoopControl extends RuntimeException {
        final boolean isBreak;

        LoopControl(boolean isBreak) {
            super(null, null, false, false);
            this.isBreak = isBreak;
        }
    }

    private static final int MAX_OUTPUT = 64 << 20;
    private final StringBuilder out = new StringBuilder();

    String render(List<Stmt> body, Map<String, Object> globals, java.time.Clock clock) {
        Scope root = new Scope(null);
        root.vars.putAll(Builtins.globals(clock));
        for (Map.Entry<String, Object> e : globals.entrySet()) root.vars.put(e.getKey(), Values.fromJava(e.getValue()));
        try {
            execute(body, root);
        } catch (LoopControl c) {
            throw new TemplateException("'" + (c.isBreak ? "break" : "continue") + "' outside a loop", 0);
        }
        return out.toString();
    }

    private void execute(List<Stmt> body, Scope scope) {
        for (Stmt s : body) execute(s, scope);
    }

    private void execute(Stmt stmt, Scope scope) {
        switch (stmt) {
            case Node.Text t -> emit(t.text(), t.line());
            case Node.Output o -> emit(Values.str(eval(o.expr(), scope)), o.line());
            case Node.If f -> {
                for (int i = 0; i < f.tests().size(); i++) {
                    if (Values.truthy(eval(f.tests().get(i), scope))) {
                        execute(f.bodies().get(i), scope);
                        return;
                    }
                }
                execute(f.orElse(), scope);
            }
            case Node.For f -> forLoop(f, scope);
            case Node.Set s -> assign(s, scope);
            case Node.SetBlock s -> {
                Interpreter inner = new Interpreter();
                inner.execute(s.body(), scope);
                scope.vars.put(s.target(), inner.out.toString());
            }
            case Node.Macro m -> scope.vars.put(m.name(), macro(m, scope));
            case Node.Break b -> throw new LoopControl(true);
            case Node.Continue c -> throw new LoopControl(false);
            case Node.Generation g -> execute(g.body(), scope);
        }
    }

    private void emit(String s, int line) {
        if (out.length() + s.length() > MAX_OUTPUT) throw new TemplateException("the rendered prompt is too large", line);
        out.append(s);
    }

    private void assign(Node.Set s, Scope scope) {
        Object value = eval(s.value(), scope);
        if (s.attribute() != null) {
            Object target = lookup(s.targets().get(0), scope);
            if (!(target instanceof Namespace ns)) {
                throw new TemplateException("cannot assign attribute on non-namespace object '" + s.targets().get(0) + "'", s.line());
            }
            ns.attributes.put(s.attribute(), value);
            return;
        }
        if (s.targets().size() == 1) {
            scope.vars.put(s.targets().get(0), value);
            return;
        }
        List<Object> items = Values.iterate(value, s.line());
        if (items.size() != s.targets().size()) {
            throw new TemplateException("cannot unpack " + items.size() + " values into " + s.targets().size() + " names", s.line());
        }
        for (int i = 0; i < items.size(); i++) scope.vars.put(s.targets().get(i), items.get(i));
    }

    private void forLoop(Node.For f, Scope scope) {
        List<Object> items = Values.iterate(eval(f.iterable(), scope), f.line());
        if (f.filter() != null) { // "for x in xs if cond": the loop sees only the items that pass
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                Scope s = new Scope(scope);
                bindTargets(f, s, item);
                if (Values.truthy(eval(f.filter(), s))) kept.add(item);
            }
            items = kept;
        }
        if (items.isEmpty()) {
            execute(f.orElse(), scope);
            return;
        }
        int n = items.size();
        for (int i = 0; i < n; i++) {
            Scope s = new Scope(scope);
            bindTargets(f, s, items.get(i));
            s.vars.put("loop", loopInfo(items, i));
            try {
                execute(f.body(), s);
            } catch (LoopControl c) {
                if (c.isBreak) break;
            }
        }
    }

    private static void bindTargets(Node.For f, Scope s, Object item) {
        if (f.targets().size() == 1) {
            s.vars.put(f.targets().get(0), item);
            return;
        }
        List<Object> parts = Values.iterate(item, f.line());
        if (parts.size() != f.targets().size()) {
            throw new TemplateException("cannot unpack " + parts.size() + " values into " + f.targets().size() + " loop variables", f.line());
        }
        for (int k = 0; k < parts.size(); k++) s.vars.put(f.targets().get(k), parts.get(k));
    }

    private static Map<Object, Object> loopInfo(List<Object> items, int i) {
        int n = items.size();
        Map<Object, Object> loop = new LinkedHashMap<>();
        loop.put("index", (long) i + 1);
        loop.put("index0", (long) i);
        loop.put("revindex", (long) (n - i));
        loop.put("revindex0", (long) (n - i - 1));
        loop.put("first", i == 0);
        loop.put("last", i == n - 1);
        loop.put("length", (long) n);
        loop.put("depth", 1L);
        loop.put("depth0", 0L);
        loop.put("previtem", i > 0 ? items.get(i - 1) : new Undefined("loop.previtem"));
        loop.put("nextitem", i + 1 < n ? items.get(i + 1) : new Undefined("loop.nextitem"));
        loop.put("cycle", (Callable) (args, kw, line) -> {
            if (args.isEmpty()) throw new TemplateException("no items for cycling given", line);
            return args.get(i % args.size());
        });
        return loop;
    }

    private Callable macro(Node.Macro m, Scope definedIn) {
        return (args, kw, line) -> {
            if (args.size() > m.params().size()) {
                throw new TemplateException("macro '" + m.name() + "' takes not more than " + m.params().size() + " arguments", line);
            }
            Scope s = new Scope(definedIn);
            for (int k = 0; k < m.params().size(); k++) {
                String p = m.params().get(k);
                Object v;
                if (k < args.size()) v = args.get(k);
                else if (kw.containsKey(p)) v = kw.get(p);
                else if (m.defaults().get(k) != null) v = eval(m.defaults().get(k), s);
                else v = new Undefined(p);
                s.vars.put(p, v);
            }
            for (String k : kw.keySet()) {
                if (!m.params().contains(k)) throw new TemplateException("macro '" + m.name() + "' has no parameter '" + k + "'", line);
            }
            Interpreter inner = new Interpreter();
            inner.execute(m.body(), s);
            return inner.out.toString();
        };
    }

    private static Object lookup(String name, Scope scope) {
        Object v = scope.lookup(name);
        return v == Values.MISSING ? new Undefined(name) : v;
    }

    // ---------------------------------------------------------------- expressions

    Object eval(Expr e, Scope scope) {
        return switch (e) {
            case Node.Literal l -> l.value();
            case Node.Name n -> lookup(n.name(), scope);
            case Node.ListExpr l -> {
                List<Object> r = new ArrayList<>(l.items().size());
                for (Expr x : l.items()) r.add(eval(x, scope));
                yield r;
            }
            case Node.TupleExpr t -> {
                List<Object> r = new ArrayList<>(t.items().size());
                for (Expr x : t.items()) r.add(eval(x, scope));
                yield new Tuple(r);
            }
            case Node.DictExpr d -> {
                Map<Object, Object> r = new LinkedHashMap<>();
                for (int i = 0; i < d.keys().size(); i++) r.put(eval(d.keys().get(i), scope), eval(d.values().get(i), scope));
                yield r;
            }
            case Node.GetAttr g -> attribute(eval(g.target(), scope), g.name(), g.line());
            case Node.GetItem g -> item(eval(g.target(), scope), eval(g.index(), scope), g.line());
            case Node.Slice s -> slice(eval(s.target(), scope), s.start() == null ? null : eval(s.start(), scope),
                    s.stop() == null ? null : eval(s.stop(), scope), s.step() == null ? null : eval(s.step(), scope), s.line());
            case Node.Call c -> call(c, scope);
            case Node.Filter f -> {
                Object v = eval(f.value(), scope);
                List<Object> args = evalAll(f.args(), scope);
                Map<String, Object> kw = new LinkedHashMap<>();
                for (int i = 0; i < f.kwNames().size(); i++) kw.put(f.kwNames().get(i), eval(f.kwValues().get(i), scope));
                yield Builtins.filter(this, f.name(), v, args, kw, f.line());
            }
            case Node.Test t -> {
                boolean r = Builtins.test(t.name(), eval(t.value(), scope), evalAll(t.args(), scope), t.line());
                yield t.negated() != r;
            }
            case Node.Unary u -> {
                Object v = eval(u.operand(), scope);
                if (v instanceof Undefined un) throw new TemplateException(un.message(), u.line());
                if (!Values.isNumber(v)) {
                    throw new TemplateException("bad operand type for unary " + u.op() + ": '" + Values.typeName(v) + "'", u.line());
                }
                if (u.op().equals("+")) yield v instanceof Boolean ? Values.asLong(v) : v;
                yield v instanceof Double d ? (Object) (-d) : (Object) (-Values.asLong(v));
            }
            case Node.Binary b -> arithmetic(b.op(), eval(b.left(), scope), eval(b.right(), scope), b.line());
            case Node.Compare c -> compare(c, scope);
            case Node.And a -> {
                Object l = eval(a.left(), scope);
                yield Values.truthy(l) ? eval(a.right(), scope) : l;
            }
            case Node.Or o -> {
                Object l = eval(o.left(), scope);
                yield Values.truthy(l) ? l : eval(o.right(), scope);
            }
            case Node.Not n -> !Values.truthy(eval(n.operand(), scope));
            case Node.Cond c -> Values.truthy(eval(c.test(), scope)) ? eval(c.then(), scope)
                    : c.orElse() == null ? new Undefined("conditional expression without else") : eval(c.orElse(), scope);
            case Node.Concat c -> { // Jinja2's str_join (autoescape is off): markup is not special here
                StringBuilder sb = new StringBuilder();
                for (Expr x : c.parts()) sb.append(Values.str(eval(x, scope)));
                yield sb.toString();
            }
        };
    }

    private List<Object> evalAll(List<Expr> exprs, Scope scope) {
        List<Object> r = new ArrayList<>(exprs.size());
        for (Expr x : exprs) r.add(eval(x, scope));
        return r;
    }

    private Object compare(Node.Compare c, Scope scope) {
        Object left = eval(c.first(), scope);
        for (int i = 0; i < c.ops().size(); i++) {
            Object right = eval(c.operands().get(i), scope);
            boolean ok = switch (c.ops().get(i)) {
                case "==" -> Values.eq(left, right);
                case "!=" -> !Values.eq(left, right);
                case "<" -> Values.compare(left, right, c.line()) < 0;
                case "<=" -> Values.compare(left, right, c.line()) <= 0;
                case ">" -> Values.compare(left, right, c.line()) > 0;
                case ">=" -> Values.compare(left, right, c.line()) >= 0;
                case "in" -> Values.contains(right, left, c.line());
                case "notin" -> !Values.contains(right, left, c.line());
                default -> throw new IllegalStateException(c.ops().get(i));
            };
            if (!ok) return false;
            left = right;
        }
        return true;
    }

    private Object call(Node.Call c, Scope scope) {
        Object callee;
        if (c.callee() instanceof Node.GetAttr g) { // a method call: bound to its target
            Object target = eval(g.target(), scope);
            Callable m = Builtins.method(target, g.name());
            callee = m != null ? m : attribute(target, g.name(), g.line());
            if (callee instanceof Undefined && !(target instanceof Namespace)) {
                throw new TemplateException("unsupported method '" + g.name() + "' on " + Values.typeName(target), c.line());
            }
        } else {
            callee = eval(c.callee(), scope);
        }
        if (callee instanceof Undefined u) throw new TemplateException(u.message(), c.line());
        if (!(callee instanceof Callable fn)) {
            throw new TemplateException("'" + Values.typeName(callee) + "' object is not callable", c.line());
        }
        List<Object> args = evalAll(c.args(), scope);
        Map<String, Object> kw = new LinkedHashMap<>();
        for (int i = 0; i < c.kwNames().size(); i++) kw.put(c.kwNames().get(i), eval(c.kwValues().get(i), scope));
        try {
            return fn.call(args, kw, c.line());
        } catch (IndexOutOfBoundsException | ClassCastException | NullPointerException ex) {
            throw new TemplateException("bad arguments in a call", c.line());
        }
    }

    /** {@code x.name}: a dict key or namespace attribute, else Undefined (Jinja2's getattr, then getitem). */
    Object attribute(Object target, String name, int line) {
        target = Values.plain(target);
        if (target instanceof Undefined u) throw new TemplateException(u.message(), line);
        if (target instanceof Map<?, ?> m) { // Python attributes (dict methods) first, then keys, as Jinja2
            Callable method = Builtins.method(target, name);
            if (method != null) return method;
            Object k = Values.findKey(m, name);
            return k != Values.MISSING ? m.get(k) : new Undefined(name);
        }
        if (target instanceof Namespace ns) {
            return ns.attributes.containsKey(name) ? ns.attributes.get(name) : new Undefined(name);
        }
        Callable method = Builtins.method(target, name);
        return method != null ? method : new Undefined(name);
    }

    /** {@code x[i]}: list / string index (negative from the end), dict key; missing gives Undefined. */
    static Object item(Object target, Object index, int line) {
        target = Values.plain(target);
        index = Values.plain(index);
        if (target instanceof Undefined u) throw new TemplateException(u.message(), line);
        if (target instanceof Map<?, ?> m) {
            Object k = Values.findKey(m, index);
            return k != Values.MISSING ? m.get(k) : new Undefined(Values.str(index));
        }
        if (target instanceof Namespace ns && index instanceof String s) {
            return ns.attributes.containsKey(s) ? ns.attributes.get(s) : new Undefined(s);
        }
        if ((target instanceof List || target instanceof String) && Values.isInteger(index)) {
            List<Object> items = target instanceof List<?> l ? new ArrayList<>(l) : Values.iterate(target, line);
            long i = Values.asLong(index);
            if (i < 0) i += items.size();
            return i >= 0 && i < items.size() ? items.get((int) i) : new Undefined("index " + index);
        }
        if (target instanceof List || target instanceof String) return new Undefined(Values.str(index));
        return new Undefined(Values.str(index));
    }

    /** A value's text inside markup: markup as is, anything else converted to str and escaped. */
    private static String markupText(Object o) {
        return o instanceof Values.Markup m ? m.text() : Values.escapeHtml(Values.str(o));
    }

    /** Python slicing of lists, tuples and strings. */
    static Object slice(Object target, Object start, Object stop, Object step, int line) {
        target = Values.plain(target);
        if (target instanceof Undefined u) throw new TemplateException(u.message(), line);
        boolean isString = target instanceof String;
        if (!isString && !(target instanceof List)) {
            throw new TemplateException("'" + Values.typeName(target) + "' object is not subscriptable", line);
        }
        List<Object> items = Values.iterate(target, line);
        int n = items.size();
        long st = step == null ? 1 : Values.asLong(step);
        if (st == 0) throw new TemplateException("slice step cannot be zero", line);
        long lo;
        long hi;
        if (st > 0) {
            lo = start == null ? 0 : clamp(Values.asLong(start), n, 0, n);
            hi = stop == null ? n : clamp(Values.asLong(stop), n, 0, n);
        } else {
            lo = start == null ? n - 1 : clamp(Values.asLong(start), n, -1, n - 1);
            hi = stop == null ? -1 : clamp(Values.asLong(stop), n, -1, n - 1);
        }
        List<Object> r = new ArrayList<>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) r.add(items.get((int) i));
        if (isString) {
            StringBuilder sb = new StringBuilder();
            for (Object o : r) sb.append((String) o);
            return sb.toString();
        }
        return target instanceof Tuple ? new Tuple(r) : r;
    }

    private static long clamp(long i, int n, long lo, long hi) {
        if (i < 0) i += n;
        return Math.max(lo, Math.min(hi, i));
    }

    /** Python's binary arithmetic ({@code + - * / // % **}). */
    static Object arithmetic(String op, Object a, Object b, int line) {
        if (op.equals("+") && (a instanceof Values.Markup || b instanceof Values.Markup)
                && (a instanceof String || a instanceof Values.Markup) && (b instanceof String || b instanceof Values.Markup)) {
            return new Values.Markup(markupText(a) + markupText(b)); // markupsafe: the plain side is escaped
        }
        a = Values.plain(a);
        b = Values.plain(b);
        if (a instanceof Undefined u) throw new TemplateException(u.message(), line);
        if (b instanceof Undefined u) throw new TemplateException(u.message(), line);
        if (Values.isNumber(a) && Values.isNumber(b)) {
            boolean ints = Values.isInteger(a) && Values.isInteger(b);
            if (ints) {
                long x = Values.asLong(a);
                long y = Values.asLong(b);
                switch (op) {
                    case "+": return Math.addExact(x, y);
                    case "-": return Math.subtractExact(x, y);
                    case "*": return Math.multiplyExact(x, y);
                    case "/":
                        if (y == 0) throw new TemplateException("division by zero", line);
                        return (double) x / y;
                    case "//":
                        if (y == 0) throw new TemplateException("integer division or modulo by zero", line);
                        return Math.floorDiv(x, y);
                    case "%":
                        if (y == 0) throw new TemplateException("integer division or modulo by zero", line);
                        return Math.floorMod(x, y);
                    case "**":
                        if (y >= 0) {
                            long r = 1;
                            for (long k = 0; k < y; k++) r = Math.multiplyExact(r, x);
                            return r;
                        }
                        return Math.pow(x, y);
                    default: break;
                }
            } else {
                double x = Values.asDouble(a);
                double y = Values.asDouble(b);
                switch (op) {
                    case "+": return x + y;
                    case "-": return x - y;
                    case "*": return x * y;
                    case "/":
                        if (y == 0) throw new TemplateException("float division by zero", line);
                        return x / y;
                    case "//":
                        if (y == 0) throw new TemplateException("float floor division by zero", line);
                        return Math.floor(x / y);
                    case "%":
                        if (y == 0) throw new TemplateException("float modulo", line);
                        double m = x - y * Math.floor(x / y);
                        return m;
                    case "**": return Math.pow(x, y);
                    default: break;
                }
            }
        }
        if (op.equals("+")) {
            if (a instanceof String sa && b instanceof String sb) return sa + sb;
            if (a instanceof List<?> la && b instanceof List<?> lb && (a instanceof Tuple) == (b instanceof Tuple)) {
                List<Object> r = new ArrayList<>(la);
                r.addAll(lb);
                return a instanceof Tuple ? new Tuple(r) : r;
            }
        }
        if (op.equals("*")) {
            if (a instanceof String s && Values.isInteger(b)) return s.repeat((int) Math.max(0, Values.asLong(b)));
            if (b instanceof String s && Values.isInteger(a)) return s.repeat((int) Math.max(0, Values.asLong(a)));
            if (a instanceof List<?> l && Values.isInteger(b)) {
                List<Object> r = new ArrayList<>();
                for (long k = 0; k < Values.asLong(b); k++) r.addAll(l);
                return a instanceof Tuple ? new Tuple(r) : r;
            }
        }
        if (op.equals("%") && a instanceof String) {
            throw new TemplateException("unsupported construct 'string % formatting'", line);
        }
        throw new TemplateException("unsupported operand type(s) for " + op + ": '" + Values.typeName(a) + "' and '"
                + Values.typeName(b) + "'", line);
    }
}
