package io.strata.engine.model;

import io.strata.engine.gguf.GgufException;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.Metadata;
import io.strata.engine.gguf.TensorInfo;

/**
 * Hyper-parameters of a Llama-family model, read from GGUF metadata ({@code <arch>.*} keys).
 *
 * @param architecture   {@code general.architecture}: {@code llama} (Llama 2/3/3.1/3.2, Mistral) or {@code qwen2}
 * @param dim            embedding width ({@code embedding_length})
 * @param layers         transformer blocks ({@code block_count})
 * @param heads          query heads
 * @param kvHeads        key/value heads (grouped-query attention when fewer than {@code heads})
 * @param headDim        values per head ({@code attention.key_length}, default {@code dim / heads})
 * @param ffn            feed-forward width
 * @param vocab          vocabulary size (rows of {@code token_embd})
 * @param contextLength  trained context length
 * @param rmsEps         RMS norm epsilon
 * @param ropeDims       rotated dimensions per head
 * @param ropeBase       RoPE frequency base
 * @param ropeNeox       NeoX rotation (qwen2) instead of adjacent pairs (llama)
 * @param ropeScale      linear RoPE scaling factor (1 = none)
 * @param attnBias       q/k/v projections carry biases (qwen2)
 * @param tiedEmbeddings no {@code output.weight}: the head reuses {@code token_embd}
 */
public record ModelConfig(String architecture, int dim, int layers, int heads, int kvHeads, int headDim, int ffn,
                          int vocab, int contextLength, float rmsEps, int ropeDims, float ropeBase, boolean ropeNeox,
                          float ropeScale, boolean attnBias, boolean tiedEmbeddings) {

    /** Width of the K (and V) rows: {@code kvHeads * headDim}. */
    public int kvDim() {
        return kvHeads * headDim;
    }

    /** Width of the Q rows and the attention output: {@code heads * headDim}. */
    public int qDim() {
        return heads * headDim;
    }

    public static ModelConfig from(GgufFile file) {
        Metadata md = file.metadata();
        String arch = md.getString("general.architecture");
        boolean qwen2 = switch (arch) {
            case "llama" -> false;
            case "qwen2" -> true;
            default -> throw new GgufException(file.path(), "general.architecture", md.entry("general.architecture").offset(),
                    "unsupported architecture '" + arch + "' (supported: llama, qwen2)");
        };
        String p = arch + ".";
        int dim = md.getInt(p + "embedding_length");
        int layers = md.getInt(p + "block_count");
        int heads = md.getInt(p + "attention.head_count");
        int kvHeads = md.getInt(p + "attention.head_count_kv", heads);
        int headDim = md.getInt(p + "attention.key_length", heads > 0 ? dim / heads : 0);
        int ffn = md.getInt(p + "feed_forward_length");
        TensorInfo embd = file.tensorInfos().get("token_embd.weight");
        if (embd == null) throw new GgufException(file.path(), "token_embd.weight", -1, "required tensor is missing");
        if (embd.shape().length != 2) {
            throw new GgufException(file.path(), "token_embd.weight", -1, "expected 2 dimensions [dim, vocab], found " + embd.shape().length);
        }
        int vocab = Math.toIntExact(embd.shape()[1]);
        int ctx = md.getInt(p + "context_length", 2048);
        float eps = md.getFloat(p + "attention.layer_norm_rms_epsilon", 1e-5f);
        int ropeDims = md.getInt(p + "rope.dimension_count", headDim);
        float ropeBase = md.getFloat(p + "rope.freq_base", 10000f);
        float ropeScale = 1f;
        String scalingType = md.getString(p + "rope.scaling.type", "none");
        if (scalingType.equals("linear")) {
            ropeScale = md.getFloat(p + "rope.scaling.factor", 1f);
        } else if (md.has(p + "rope.scale_linear")) {
            ropeScale = md.getFloat(p + "rope.scale_linear");
        }
        check(file, p + "embedding_length", dim > 0, "must be positive: " + dim);
        check(file, p + "block_count", layers > 0, "must be positive: " + layers);
        check(file, p + "attention.head_count", heads > 0 && kvHeads > 0 && heads % kvHeads == 0,
                "heads " + heads + " must be a positive multiple of kv heads " + kvHeads);
        check(file, p + "rope.dimension_count", ropeDims > 0 && ropeDims <= headDim && ropeDims % 2 == 0,
                "rotated dims " + ropeDims + " must be even and at most the head size " + headDim);
        check(file, "token_embd.weight", embd.shape()[0] == dim, "has " + embd.shape()[0] + " columns but embedding_length is " + dim);
        boolean tied = !file.hasTensor("output.weight");
        return new ModelConfig(arch, dim, layers, heads, kvHeads, headDim, ffn, vocab, ctx, eps, ropeDims, ropeBase,
                qwen2, ropeScale, qwen2 || file.hasTensor("blk.0.attn_q.bias"), tied);
    }

    private static void check(GgufFile file, String key, boolean ok, String message) {
        if (!ok) throw new GgufException(file.path(), key, -1, message);
    }
}
