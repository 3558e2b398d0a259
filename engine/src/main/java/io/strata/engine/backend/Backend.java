package io.strata.engine.backend;

import io.strata.engine.tensor.Tensor;

/**
 * The operations one pipeline stage needs, over activation buffers the backend owns.
 *
 * <p>Calls are <em>encoded in order</em> and take effect, at the latest, at {@link #sync()}. The CPU backend
 * (the reference) runs each call at once; the Metal backend records the calls of a whole stage step into one
 * command buffer and commits it at {@code sync()}, so a step costs one GPU round trip, not one per operation.
 * Only {@link #upload} before the ops and {@link #download} after {@code sync()} touch host memory.
 *
 * <p>Layouts: an activation buffer holding {@code n} rows of {@code dim} values is row-major
 * {@code [n][dim]} f32. Weights are {@link Tensor}s in ggml layout ({@code [cols, rows]}), viewed in place.
 * Positions are absolute token positions within each row's own sequence.
 */
public interface Backend extends AutoCloseable {

    /** Short name for logs and registration, e.g. {@code cpu} or {@code metal}. */
    String name();

    /**
     * Bytes this backend's device can use without hurting performance (Metal's {@code recommendedMaxWorkingSetSize}),
     * or 0 when only host memory limits it (the CPU). Workers cap their memory budget with it and advertise it.
     */
    default long recommendedWorkingSetBytes() {
        return 0;
    }

    /** A zero-filled activation buffer of {@code floats} f32 values. */
    Buf allocate(long floats);

    /** A KV cache for one sequence: layers {@code [firstLayer, endLayer)}, {@code contextLength} positions of {@code kvDim} values each for K and for V. */
    KvCache newKvCache(int firstLayer, int endLayer, int contextLength, int kvDim, KvType type);

    /**
     * Called once per weight matrix when a stage loads, before any step: a backend may rewrite the weight into a
     * layout its kernels read faster (the CPU backend interleaves rows), so the cost is paid at load, not by the first
     * request. The default does nothing.
     */
    default void prepareWeight(Tensor w) {
    }

    /**
     * As {@link #prepareWeight(Tensor)}, with where the weight's bytes come from (null when unknown), so a backend may
     * store its rewritten copy and reuse it on a later load. The default ignores it.
     */
    default void prepareWeight(Tensor w, WeightOrigin origin) {
        prepareWeight(w);
    }

    /**
     * Waits until every weight announced through {@code prepareWeight} is in its final form (a backend may prepare
     * them in the background while the caller goes on). The default has nothing to wait for.
     */
    default void awaitPrepared() {
    }

    /**
     * {@code w} will not be used again (its stage was closed): the backend may free what it made of it, e.g. unmap
     * its rewritten copy. The default keeps nothing, so frees nothing.
     */
    default void releaseWeight(Tensor w) {
    }

    /**
     * Files the backend maps its own copies of weights from (the CPU backend's interleaved copies), so that a caller
     * can count their resident pages with the model file's; empty by default.
     */
    default java.util.Set<java.nio.file.Path> weightCopyFiles() {
        return java.util.Set.of();
    }

    /** Copies {@code len} floats from {@code src[srcOff..]} into {@code dst} at float offset 0. */
    void upload(float[] src, int srcOff, int len, Buf dst);

    /** Copies {@code len} floats from {@code src} at float offset {@code srcOff} into {@code dst[dstOff..]}; call after {@link #sync()}. */
    void download(Buf src, long srcOff, float[] dst, int dstOff, int len);

    /** {@code out[i][:] = table[tokens[i]][:]}, dequantized to f32, for {@code i < n}. */
    void embed(Tensor table, int[] tokens, int n, Buf out);

    /** {@code out[i][:] = x[i][:] / sqrt(mean(x[i]^2) + eps) * weight} for {@code i < n}; {@code out} may be {@code x}. */
    void rmsNorm(Buf x, Tensor weight, int n, int dim, float eps, Buf out);

    /**
     * {@code out[i][r] = sum_c w[r][c] * x[i][c]} for {@code i < n}, {@code r < w.rows()}: a matrix-vector product
     * for one row of input, a matrix-matrix product for a prefill chunk or a decode batch (each weight read once).
     */
    void matmul(Tensor w, Buf x, int n, Buf out);

    /** {@code x[i][:] += bias} for {@code i < n} (f32 bias of length {@code bias.cols()}). */
    void addBias(Buf x, Tensor bias, int n);

    /** Rotates each of the {@code heads} heads of every row {@code i < n} by position {@code positions[i]}. */
    void rope(Buf x, int n, int heads, int headDim, int[] positions, Rope rope);

    /**
     * Stores rows {@code i < n} of {@code k} and {@code v} ({@code [n][kvHeads*headDim]}) at {@code positions[i]} of
     * layer {@code layer} of {@code caches[i]}, then computes causal grouped-query attention: query head {@code h} of
     * row {@code i} attends to positions {@code 0..positions[i]} of KV head {@code h / (heads / kvHeads)} with scale
     * {@code 1/sqrt(headDim)} and writes {@code out[i][h*headDim..]}. Rows of one sequence share a cache.
     */
    void attention(Buf q, Buf k, Buf v, int n, int layer, KvCache[] caches, int[] positions,
                   int heads, int kvHeads, int headDim, Buf out);

    /** {@code gate[j] = silu(gate[j]) * up[j]} for {@code j < count}. */
    void siluMul(Buf gate, Buf up, long count);

    /** {@code x[j] += y[j]} for {@code j < count}. */
    void add(Buf x, Buf y, long count);

    /** {@code dst[j][:] = src[rows[j]][:]} for {@code j < rows.length}, rows of {@code dim} values. */
    void copyRows(Buf src, int[] rows, int dim, Buf dst);

    /** Waits until every operation encoded so far has completed. */
    void sync();

    @Override
    void close();
}
