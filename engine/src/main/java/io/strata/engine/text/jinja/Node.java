package io.strata.engine.text.jinja;

import java.util.List;

/** The template's syntax tree: statements ({@link Stmt}) and expressions ({@link Expr}), each with its line. */
final class Node {
    private Node() {
    }

    sealed interface Stmt permits Text, Output, If, For, Set, SetBlock, Macro, Break, Continue, Generation {
        int line();
    }

    record Text(String text, int line) implements Stmt {}

    record Output(Expr expr, int line) implements Stmt {}

    /** if / elif ... / else: {@code tests.get(i)} guards {@code bodies.get(i)}. */
    record If(List<Expr> tests, List<List<Stmt>> bodies, List<Stmt> orElse, int line) implements Stmt {}

    record For(List<String> targets, Expr iterable, Expr filter, List<Stmt> body, List<Stmt> orElse, boolean recursive,
               int line) implements Stmt {}

    /** {@code set a = x}, {@code set a, b = x}, or {@code set ns.attr = x} (then {@code attribute} is non-null). */
    record Set(List<String> targets, String attribute, Expr value, int line) implements Stmt {}

    record SetBlock(String target, List<Stmt> body, int line) implements Stmt {}

    record Macro(String name, List<String> params, List<Expr> defaults, List<Stmt> body, int line) implements Stmt {}

    record Break(int line) implements Stmt {}

    record Continue(int line) implements Stmt {}

    /** Hugging Face's {@code generation ... endgeneration}: marks assistant text for training; renders its body. */
    record Generation(List<Stmt> body, int line) implements Stmt {}

    sealed interface Expr permits Literal, Name, ListExpr, TupleExpr, DictExpr, GetAttr, GetItem, Slice, Call, Filter,
            Test, Unary, Binary, Compare, And, Or, Not, Cond, Concat {
        int line();
    }

    record Literal(Object value, int line) implements Expr {}

    record Name(String name, int line) implements Expr {}

    record ListExpr(List<Expr> items, int line) implements Expr {}

    record TupleExpr(List<Expr> items, int line) implements Expr {}

    record DictExpr(List<Expr> keys, List<Expr> values, int line) implements Expr {}

    record GetAttr(Expr target, String name, int line) implements Expr {}

    record GetItem(Expr target, Expr index, int line) implements Expr {}

    /** {@code target[start:stop:step]}; absent parts are null. */
    record Slice(Expr target, Expr start, Expr stop, Expr step, int line) implements Expr {}

    record Call(Expr callee, List<Expr> args, List<String> kwNames, List<Expr> kwValues, int line) implements Expr {}

    record Filter(Expr value, String name, List<Expr> args, List<String> kwNames, List<Expr> kwValues, int line)
            implements Expr {}

    record Test(Expr value, String name, List<Expr> args, boolean negated, int line) implements Expr {}

    record Unary(String op, Expr operand, int line) implements Expr {}

    record Binary(String op, Expr left, Expr right, int line) implements Expr {}

    /** A comparison chain {@code a < b <= c}: operators {@code ==, !=, <, <=, >, >=, in, notin}. */
    record Compare(Expr first, List<String> ops, List<Expr> operands, int line) implements Expr {}

    record And(Expr left, Expr right, int line) implements Expr {}

    record Or(Expr left, Expr right, int line) implements Expr {}

    record Not(Expr operand, int line) implements Expr {}

    /** {@code then if test else orElse}; {@code orElse} may be null (undefined). */
    record Cond(Expr test, Expr then, Expr orElse, int line) implements Expr {}

    record Concat(List<Expr> parts, int line) implements Expr {}
}
