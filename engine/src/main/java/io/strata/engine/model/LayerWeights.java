package io.strata.engine.model;

import io.strata.engine.tensor.Tensor;

/**
 * One transformer block's tensors, viewed in the map. Shapes in ggml order {@code [cols, rows]}:
 * norms {@code [dim]}; wq {@code [dim, heads*headDim]}; wk, wv {@code [dim, kvHeads*headDim]};
 * wo {@code [heads*headDim, dim]}; gate, up {@code [dim, ffn]}; down {@code [ffn, dim]}; biases (qwen2) of the
 * projection's row count, or null.
 */
public record LayerWeights(int layer, Tensor attnNorm, Tensor wq, Tensor wk, Tensor wv, Tensor bq, Tensor bk,
                           Tensor bv, Tensor wo, Tensor ffnNorm, Tensor gate, Tensor up, Tensor down) {
}
