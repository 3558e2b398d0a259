package io.strata.engine.backend;

/** An activation buffer owned by a {@link Backend}: f32 values, row-major. */
public interface Buf {
    /** Capacity in f32 values. */
    long floats();
}
