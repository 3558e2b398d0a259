package io.strata.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A named tensor viewed in place (usually a slice of a read-only file map).
 *
 * <p>{@code shape} is in ggml order: {@code shape[0]} is the number of columns (the contiguous dimension),
 * {@code shape[1]} the number of rows, and so on. A weight matrix {@code [cols, rows]} maps an input of
 * {@code cols} values to {@code rows} outputs; each row is {@code type.byteSize(cols)} bytes.
 */
public record Tensor(String name, GgmlType type, long[] shape, MemorySegment data) {

    public Tensor {
        shape = shape.clone();
    }

    public long elements() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Number of columns: the length of one row (ggml {@code ne[0]}). */
    public int cols() {
        return Math.toIntExact(shape[0]);
    }

    /** Number of rows: the product of every dimension but the first. */
    public int rows() {
        return Math.toIntExact(elements() / shape[0]);
    }

    /** Bytes of one row. */
    public long rowBytes() {
        return type.byteSize(shape[0]);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape);
    }
}
