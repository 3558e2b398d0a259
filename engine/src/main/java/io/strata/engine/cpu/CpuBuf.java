package io.strata.engine.cpu;

import io.strata.engine.backend.Buf;

/** A CPU activation buffer: a heap {@code float[]} plus the cache of its quantized forms used by {@link MatMul}. */
final class CpuBuf implements Buf {
    final float[] a;
    final ActivationCache cache = new ActivationCache();

    CpuBuf(int floats) {
        a = new float[floats];
    }

    @Override
    public long floats() {
        return a.length;
    }

    /** Marks the contents as changed: quantized copies of it are stale. */
    void written() {
        cache.invalidate();
    }
}
