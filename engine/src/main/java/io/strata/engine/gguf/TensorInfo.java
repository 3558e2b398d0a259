package io.strata.engine.gguf;

import io.strata.engine.tensor.GgmlType;

/**
 * One tensor's entry in a GGUF header.
 *
 * @param name       tensor name, e.g. {@code blk.3.attn_q.weight}
 * @param type       element type
 * @param shape      ggml order: {@code shape[0]} is the contiguous dimension
 * @param split      index of the split file holding the data (0 for single files)
 * @param fileOffset absolute byte offset of the data in that file
 * @param bytes      size of the data in bytes
 */
public record TensorInfo(String name, GgmlType type, long[] shape, int split, long fileOffset, long bytes) {
    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long elements() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }
}
