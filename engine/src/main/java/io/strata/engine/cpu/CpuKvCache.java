package io.strata.engine.cpu;

import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One sequence's KV cache in native memory (off the Java heap, freed at {@link #close()}): per layer of the stage,
 * K then V, each {@code [contextLength][kvDim]} in f32 or f16.
 */
final class CpuKvCache implements KvCache {
    private final int firstLayer;
    private final int endLayer;
    private final int contextLength;
    private final int kvDim;
    private final KvType type;
    private final Arena arena;
    final MemorySegment[] k;
    final MemorySegment[] v;
    private boolean closed;

    CpuKvCache(int firstLayer, int endLayer, int contextLength, int kvDim, KvType type) {
        if (firstLayer < 0 || endLayer <= firstLayer || contextLength <= 0 || kvDim <= 0) {
            throw new IllegalArgumentException("bad KV cache shape: layers [" + firstLayer + ", " + endLayer + "), context "
                    + contextLength + ", kvDim " + kvDim);
        }
        this.firstLayer = firstLayer;
        this.endLayer = endLayer;
        this.contextLength = contextLength;
        this.kvDim = kvDim;
        this.type = type;
        this.arena = Arena.ofShared();
        int layers = endLayer - firstLayer;
        k = new MemorySegment[layers];
        v = new MemorySegment[layers];
        long bytes = (long) contextLength * kvDim * type.bytes;
        for (int l = 0; l < layers; l++) {
            k[l] = arena.allocate(bytes, 64);
            v[l] = arena.allocate(bytes, 64);
        }
    }

    @Override public int firstLayer() { return firstLayer; }
    @Override public int endLayer() { return endLayer; }
    @Override public int contextLength() { return contextLength; }
    @Override public int kvDim() { return kvDim; }
    @Override public KvType type() { return type; }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
    static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT;
}
