package io.strata.engine.text.jinja;

import io.strata.engine.text.jinja.Lexer.Token;
import io.strata.engine.text.jinja.Lexer.Type;
import io.strata.engine.text.jinja.Node.Expr;
import io.strata.engine.text.jinja.Node.Stmt;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Parses tokens into a syntax tree with Jinja2's grammar and operator precedence (parser.py): conditional
 * expressions, {@code or}, {@code and}, {@code not}, comparisons and {@code in}, {@code + -}, {@code ~},
 * {@code * / // %}, {@code **}, unary minus, then postfix attribute / item / slice / call, filters and tests.
 * Unknown statements fail here; an unknown filter or test fails when it is evaluated, as in Jinja2 3 (a template
 * may name one in a branch it never takes, e.g. for tools).
 */
final class Parser {
    private static final Set<String> UNSUPPORTED_STATEMENTS = Set.of("call", "filter", "with", "include", "import",
            "from", "extends", "block", "autoescape", "do", "trans", "pluralize", "raw", "print");
    private final List<Token> tokens;
    private int i;

    private Parser(List<Token> tokens) {
        this.tokens = tokens;
    }

    static List<Stmt> parse(String source) {
        Parser p = new Parser(Lexer.tokenize(source));
        List<Stmt> body = p.body(Set.of());
        if (p.cur().type() != Type.EOF) throw p.error("unexpected '" + p.cur().value() + "'");
        return body;
    }

    private Token cur() {
        return tokens.get(i);
    }

    private Token peek(int ahead) {
        return tokens.get(Math.min(i + ahead, tokens.size() - 1));
    }

    private Token next() {
        return tokens.get(i++);
    }

    private TemplateException error(String message) {
        return new TemplateException(message, cur().line());
    }

    private Token expect(Type type, String what) {
        if (cur().type() != type) throw error("expected " + what + " but found '" + cur().value() + "'");
        return next();
    }

    private void expectOp(String op) {
        if (!cur().isOp(op)) throw error("expected '" + op + "' but found '" + cur().value() + "'");
        next();
    }

    private void expectName(String name) {
        if (!cur().isName(name)) throw error("expected '" + name + "' but found '" + cur().value() + "'");
        next();
    }

    private void expectBlockEnd() {
        expect(Type.BLOCK_END, "the end of the tag '%}'");
    }

    // ---------------------------------------------------------------- statements

    /** Statements up to EOF or a block tag whose first name is in {@code ends} (left unconsumed). */
    private List<Stmt> body(Set<String> ends) {
        List<Stmt> out = new ArrayList<>();
        while (true) {
            Token t = cur();
            switch (t.type()) {
                case EOF -> {
                    if (!ends.isEmpty()) throw error("missing '" + String.join("' or '", ends) + "'");
                    return out;
                }
                case DATA -> {
                    next();
                    out.add(new Node.Text(t.value(), t.line()));
                }
                case VAR_BEGIN -> {
                    next();
                    Expr e = tuple(true);
                    expect(Type.VAR_END, "'}}'");
                    out.add(new Node.Output(e, t.line()));
                }
                case BLOCK_BEGIN -> {
                    Token name = peek(1);
                    if (name.type() == Type.NAME && ends.contains(name.value())) return out;
                    next();
                    out.add(statement());
                }
                default -> throw error("unexpected '" + t.value() + "'");
            }
        }
    }

    private Stmt statement() {
        Token t = expect(Type.NAME, "a statement name");
        String name = t.value();
        return switch (name) {
            case "if" -> ifStatement(t.line());
            case "for" -> forStatement(t.line());
            case "set" -> setStatement(t.line());
            case "macro" -> macro(t.line());
            case "break" -> {
                expectBlockEnd();
                yield new Node.Break(t.line());
            }
            case "continue" -> {
                expectBlockEnd();
                yield new Node.Continue(t.line());
            }
            case "generation" -> {
                expectBlockEnd();
                List<Stmt> b = body(Set.of("endgeneration"));
                endTag("endgeneration");
                yield new Node.Generation(b, t.line());
            }
            default -> {
                if (UNSUPPORTED_STATEMENTS.contains(name)) {
                    throw new TemplateException("unsupported statement '" + name + "'", t.line());
                }
                throw new TemplateException("unknown or misplaced statement '" + name + "'", t.line());
            }
        };
    }

    private void endTag(String name) {
        expect(Type.BLOCK_BEGIN, "'{%'");
        expectName(name);
        expectBlockEnd();
    }

    private Stmt ifStatement(int line) {
        List<Expr> tests = new ArrayList<>();
        List<List<Stmt>> bodies = new ArrayList<>();
        tests.add(tuple(true));
        expectBlockEnd();
        List<Stmt> orElse = List.of();
        while (true) {
            bodies.add(body(Set.of("elif", "else", "endif")));
            next(); // {%
            String kw = next().value();
            if (kw.equals("elif")) {
                tests.add(tuple(true));
                expectBlockEnd();
            } else if (kw.equals("else")) {
                expectBlockEnd();
                orElse = body(Set.of("endif"));
                endTag("endif");
                break;
            } else {
                expectBlockEnd();
                break;
            }
        }
        return new Node.If(tests, bodies, orElse, line);
    }

    private Stmt forStatement(int line) {
        List<String> targets = new ArrayList<>();
        boolean paren = cur().isOp("(");
        if (paren) next();
        targets.add(expect(Type.NAME, "a loop variable").value());
        while (cur().isOp(",")) {
            next();
            targets.add(expect(Type.NAME, "a loop variable").value());
        }
        if (paren) expectOp(")");
        expectName("in");
        Expr iterable = tuple(false);
        Expr filter = null;
        if (cur().isName("if")) {
            next();
            filter = expression(true);
        }
        boolean recursive = false;
        if (cur().isName("recursive")) {
            next();
            recursive = true;
        }
        expectBlockEnd();
        List<Stmt> body = body(Set.of("else", "endfor"));
        List<Stmt> orElse = List.of();
        next();
        if (next().value().equals("else")) {
            expectBlockEnd();
            orElse = body(Set.of("endfor"));
            endTag("endfor");
        } else {
            expectBlockEnd();
        }
        if (recursive) throw new TemplateException("unsupported construct 'for ... recursive'", line);
        return new Node.For(targets, iterable, filter, body, orElse, false, line);
    }

    private Stmt setStatement(int line) {
        String first = expect(Type.NAME, "a variable name").value();
        if (cur().isOp(".")) {
            next();
            String attr = expect(Type.NAME, "an attribute name").value();
            expectOp("=");
            Expr value = tuple(true);
            expectBlockEnd();
            return new Node.Set(List.of(first), attr, value, line);
        }
        List<String> targets = new ArrayList<>(List.of(first));
        while (cur().isOp(",")) {
            next();
            targets.add(expect(Type.NAME, "a variable name").value());
        }
        if (cur().type() == Type.BLOCK_END && targets.size() == 1) {
            next();
            List<Stmt> b = body(Set.of("endset"));
            endTag("endset");
            return new Node.SetBlock(first, b, line);
        }
        if (cur().isOp("|")) throw error("unsupported construct 'set ... | filter' (filtered block set)");
        expectOp("=");
        Expr value = tuple(true);
        expectBlockEnd();
        return new Node.Set(targets, null, value, line);
    }

    private Stmt macro(int line) {
        String name = expect(Type.NAME, "a macro name").value();
        expectOp("(");
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        while (!cur().isOp(")")) {
            if (!params.isEmpty()) expectOp(",");
            if (cur().isOp(")")) break;
            params.add(expect(Type.NAME, "a parameter name").value());
            if (cur().isOp("=")) {
                next();
                defaults.add(expression(true));
            } else {
                if (defaults.stream().anyMatch(d -> d != null)) {
                    throw error("a parameter without default follows one with a default");
                }
                defaults.add(null);
            }
        }
        next();
        expectBlockEnd();
        List<Stmt> b = body(Set.of("endmacro"));
        endTag("endmacro");
        return new Node.Macro(name, params, defaults, b, line);
    }

    // ---------------------------------------------------------------- expressions

    /** An expression, or several separated by commas (a tuple without parentheses). */
    private Expr tuple(boolean withCondition) {
        int line = cur().line();
        Expr first = expression(withCondition);
        if (!cur().isOp(",")) return first;
        List<Expr> items = new ArrayList<>(List.of(first));
        while (cur().isOp(",")) {
            next();
            if (!startsExpression()) break;
            items.add(expression(withCondition));
        }
        return new Node.TupleExpr(items, line);
    }

    private boolean startsExpression() {
        Token t = cur();
        return switch (t.type()) {
            case NAME, STRING, INT, FLOAT -> true;
            case OP -> t.value().equals("(") || t.value().equals("[") || t.value().equals("{") || t.value().equals("-")
                    || t.value().equals("+");
            default -> false;
        };
    }

    private Expr expression(boolean withCondition) {
        return withCondition ? condition() : or();
    }

    private Expr condition() {
        Expr e = or();
        while (cur().isName("if")) {
            int line = next().line();
            Expr test = or();
            Expr orElse = null;
            if (cur().isName("else")) {
                next();
                orElse = condition();
            }
            e = new Node.Cond(test, e, orElse, line);
        }
        return e;
    }

    private Expr or() {
        Expr e = and();
        while (cur().isName("or")) {
            int line = next().line();
            e = new Node.Or(e, and(), line);
        }
        return e;
    }

    private Expr and() {
        Expr e = not();
        while (cur().isName("and")) {
            int line = next().line();
            e = new Node.And(e, not(), line);
        }
        return e;
    }

    private Expr not() {
        if (cur().isName("not")) {
            int line = next().line();
            return new Node.Not(not(), line);
        }
        return compare();
    }

    private Expr compare() {
        int line = cur().line();
        Expr first = math1();
        List<String> ops = new ArrayList<>();
        List<Expr> operands = new ArrayList<>();
        while (true) {
            Token t = cur();
            if (t.type() == Type.OP && Set.of("==", "!=", "<", "<=", ">", ">=").contains(t.value())) {
                next();
                ops.add(t.value());
            } else if (t.isName("in")) {
                next();
                ops.add("in");
            } else if (t.isName("not") && peek(1).isName("in")) {
                next();
                next();
                ops.add("notin");
            } else {
                break;
            }
            operands.add(math1());
        }
        return ops.isEmpty() ? first : new Node.Compare(first, ops, operands, line);
    }

    private Expr math1() {
        Expr e = concat();
        while (cur().isOp("+") || cur().isOp("-")) {
            Token op = next();
            e = new Node.Binary(op.value(), e, concat(), op.line());
        }
        return e;
    }

    private Expr concat() {
        int line = cur().line();
        Expr e = math2();
        if (!cur().isOp("~")) return e;
        List<Expr> parts = new ArrayList<>(List.of(e));
        while (cur().isOp("~")) {
            next();
            parts.add(math2());
        }
        return new Node.Concat(parts, line);
    }

    private Expr math2() {
        Expr e = pow();
        while (cur().isOp("*") || cur().isOp("/") || cur().isOp("//") || cur().isOp("%")) {
            Token op = next();
            e = new Node.Binary(op.value(), e, pow(), op.line());
        }
        return e;
    }

    private Expr pow() {
        Expr e = unary(true);
        while (cur().isOp("**")) {
            Token op = next();
            e = new Node.Binary("**", e, unary(true), op.line());
        }
        return e;
    }

    private Expr unary(boolean withFilter) {
        Token t = cur();
        Expr e;
        if (t.isOp("-") || t.isOp("+")) {
            next();
            e = new Node.Unary(t.value(), unary(false), t.line());
        } else {
            e = primary();
        }
        e = postfix(e);
        if (withFilter) e = filterExpression(e);
        return e;
    }

    private Expr primary() {
        Token t = next();
        switch (t.type()) {
            case NAME -> {
                return switch (t.value()) {
                    case "true", "True" -> new Node.Literal(Boolean.TRUE, t.line());
                    case "false", "False" -> new Node.Literal(Boolean.FALSE, t.line());
                    case "none", "None" -> new Node.Literal(null, t.line());
                    default -> new Node.Name(t.value(), t.line());
                };
            }
            case STRING -> {
                StringBuilder sb = new StringBuilder(t.value());
                while (cur().type() == Type.STRING) sb.append(next().value()); // adjacent literals join
                return new Node.Literal(sb.toString(), t.line());
            }
            case INT -> {
                try {
                    return new Node.Literal(Long.parseLong(t.value()), t.line());
                } catch (NumberFormatException e) {
                    throw new TemplateException("integer literal too large: " + t.value(), t.line());
                }
            }
            case FLOAT -> {
                return new Node.Literal(Double.parseDouble(t.value()), t.line());
            }
            case OP -> {
                switch (t.value()) {
                    case "(" -> {
                        if (cur().isOp(")")) {
                            next();
                            return new Node.TupleExpr(List.of(), t.line());
                        }
                        Expr first = expression(true);
                        if (cur().isOp(")")) {
                            next();
                            return first;
                        }
                        List<Expr> items = new ArrayList<>(List.of(first));
                        while (cur().isOp(",")) {
                            next();
                            if (cur().isOp(")")) break;
                            items.add(expression(true));
                        }
                        expectOp(")");
                        return new Node.TupleExpr(items, t.line());
                    }
                    case "[" -> {
                        List<Expr> items = new ArrayList<>();
                        while (!cur().isOp("]")) {
                            if (!items.isEmpty()) expectOp(",");
                            if (cur().isOp("]")) break;
                            items.add(expression(true));
                        }
                        next();
                        return new Node.ListExpr(items, t.line());
                    }
                    case "{" -> {
                        List<Expr> keys = new ArrayList<>();
                        List<Expr> values = new ArrayList<>();
                        while (!cur().isOp("}")) {
                            if (!keys.isEmpty()) expectOp(",");
                            if (cur().isOp("}")) break;
                            keys.add(expression(true));
                            expectOp(":");
                            values.add(expression(true));
                        }
                        next();
                        return new Node.DictExpr(keys, values, t.line());
                    }
                    default -> { }
                }
            }
            default -> { }
        }
        i--;
        throw error("unexpected '" + t.value() + "'");
    }

    private Expr postfix(Expr e) {
        while (true) {
            Token t = cur();
            if (t.isOp(".")) {
                next();
                Token name = next();
                if (name.type() == Type.NAME) {
                    e = new Node.GetAttr(e, name.value(), t.line());
                } else if (name.type() == Type.INT) {
                    e = new Node.GetItem(e, new Node.Literal(Long.parseLong(name.value()), t.line()), t.line());
                } else {
                    i--;
                    throw error("expected an attribute name after '.'");
                }
            } else if (t.isOp("[")) {
                next();
                e = subscript(e, t.line());
            } else if (t.isOp("(")) {
                e = call(e);
            } else {
                return e;
            }
        }
    }

    private Expr subscript(Expr target, int line) {
        Expr[] parts = new Expr[3];
        int part = 0;
        boolean slice = false;
        while (!cur().isOp("]")) {
            if (cur().isOp(":")) {
                next();
                slice = true;
                if (++part > 2) throw error("a slice has at most three parts");
                continue;
            }
            if (cur().isOp(",")) throw error("unsupported construct 'tuple subscript'");
            parts[part] = expression(true);
        }
        next();
        if (!slice) {
            if (parts[0] == null) throw error("empty subscript");
            return new Node.GetItem(target, parts[0], line);
        }
        return new Node.Slice(target, parts[0], parts[1], parts[2], line);
    }

    private Node.Call call(Expr callee) {
        int line = cur().line();
        List<Expr> args = new ArrayList<>();
        List<String> kwNames = new ArrayList<>();
        List<Expr> kwValues = new ArrayList<>();
        callArguments(args, kwNames, kwValues);
        return new Node.Call(callee, args, kwNames, kwValues, line);
    }

    private void callArguments(List<Expr> args, List<String> kwNames, List<Expr> kwValues) {
        expectOp("(");
        boolean first = true;
        while (!cur().isOp(")")) {
            if (!first) expectOp(",");
            first = false;
            if (cur().isOp(")")) break;
            if (cur().isOp("*") || cur().isOp("**")) throw error("unsupported construct '*args / **kwargs' in a call");
            if (cur().type() == Type.NAME && peek(1).isOp("=")) {
                kwNames.add(next().value());
                next();
                kwValues.add(expression(true));
            } else {
                if (!kwNames.isEmpty()) throw error("a positional argument follows a keyword argument");
                args.add(expression(true));
            }
        }
        next();
    }

    private Expr filterExpression(Expr e) {
        while (true) {
            Token t = cur();
            if (t.isOp("|")) {
                next();
                String name = dottedName();
                List<Expr> args = new ArrayList<>();
                List<String> kwNames = new ArrayList<>();
                List<Expr> kwValues = new ArrayList<>();
                if (cur().isOp("(")) callArguments(args, kwNames, kwValues);
                e = new Node.Filter(e, name, args, kwNames, kwValues, t.line());
            } else if (t.isName("is")) {
                next();
                boolean negated = false;
                if (cur().isName("not")) {
                    next();
                    negated = true;
                }
                String name = dottedName();
                List<Expr> args = new ArrayList<>();
                Token a = cur();
                if (a.isOp("(")) {
                    List<String> kwNames = new ArrayList<>();
                    callArguments(args, kwNames, new ArrayList<>());
                    if (!kwNames.isEmpty()) throw error("unsupported construct 'keyword arguments to a test'");
                } else if ((a.type() == Type.NAME || a.type() == Type.STRING || a.type() == Type.INT
                        || a.type() == Type.FLOAT || a.isOp("[") || a.isOp("{"))
                        && !a.isName("else") && !a.isName("or") && !a.isName("and")) {
                    if (a.isName("is")) throw error("tests cannot be chained with 'is'");
                    args.add(postfix(primary()));
                }
                e = new Node.Test(e, name, args, negated, t.line());
            } else if (t.isOp("(")) {
                e = call(e);
            } else {
                return e;
            }
        }
    }

    private String dottedName() {
        StringBuilder sb = new StringBuilder(expect(Type.NAME, "a name").value());
        while (cur().isOp(".") && peek(1).type() == Type.NAME) {
            next();
            sb.append('.').append(next().value());
        }
        return sb.toString();
    }
}
