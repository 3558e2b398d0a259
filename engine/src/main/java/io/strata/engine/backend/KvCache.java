package io.strata.engine.backend;

/**
 * One sequence's keys and values for a stage's layers: per layer, {@code contextLength} positions of
 * {@code kvDim} values for K and the same for V. Allocated once per sequence by {@link Backend#newKvCache}.
 */
public interface KvCache extends AutoCloseable {
    int firstLayer();

    int endLayer();

    int contextLength();

    int kvDim();

    KvType type();

    /** Bytes this cache holds (K and V, all its layers). */
    default long bytes() {
        return 2L * (endLayer() - firstLayer()) * contextLength() * kvDim() * type().bytes;
    }

    /** Frees the memory (idempotent). */
    @Override
    void close();
}
