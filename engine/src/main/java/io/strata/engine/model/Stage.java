package io.strata.engine.model;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.Buf;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.backend.Rope;
import io.strata.engine.backend.WeightOrigin;
import io.strata.engine.gguf.GgufException;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A pipeline stage: the forward pass of layers {@code [firstLayer, endLayer)} of a Llama-family model (llama, qwen2)
 * on one {@link Backend}. The first stage embeds tokens; the last applies the output norm and head. Layer numbers
 * are global (tensor names and KV slots are never renumbered), and only this stage's tensors are ever read.
 *
 * <p>One forward per architecture family, a plain loop in llama.cpp's step order with llama2.c's buffer names.
 * Not thread-safe: one step at a time.
 */
public final class Stage implements AutoCloseable {

    private final ModelConfig cfg;
    private final Backend backend;
    private final int firstLayer;
    private final int endLayer;
    private final int maxBatch;
    private final Tensor tokenEmbd;    // [dim, vocab], first stage only
    private final LayerWeights[] layers;
    private final Tensor outputNorm;   // [dim], last stage only
    private final Tensor output;       // [dim, vocab], last stage only (token_embd when tied)
    private final Rope rope;

    // Activations, [maxBatch][width] each, allocated once.
    private final Buf x;       // residual stream [n][dim]
    private final Buf xb;      // normed input of a sub-layer [n][dim]
    private final Buf xb2;     // sub-layer output before the residual add [n][dim]
    private final Buf q;       // queries [n][heads*headDim]
    private final Buf k;       // keys of the new rows [n][kvDim]
    private final Buf v;       // values of the new rows [n][kvDim]
    private final Buf att;     // attention output [n][heads*headDim]
    private final Buf hb;      // ffn gate, then silu(gate)*up [n][ffn]
    private final Buf hb2;     // ffn up [n][ffn]
    private final Buf xr;      // rows selected for the head [LOGIT_ROWS][dim]
    private final Buf logits;  // [LOGIT_ROWS][vocab]
    private static final int LOGIT_ROWS = 16;

    private Stage(GgufFile file, ModelConfig cfg, Backend backend, int firstLayer, int endLayer, int maxBatch, Tensor tokenEmbd,
                  LayerWeights[] layers, Tensor outputNorm, Tensor output, Rope rope) {
        this.cfg = cfg;
        this.backend = backend;
        this.firstLayer = firstLayer;
        this.endLayer = endLayer;
        this.maxBatch = maxBatch;
        this.tokenEmbd = tokenEmbd;
        this.layers = layers;
        this.outputNorm = outputNorm;
        this.output = output;
        this.rope = rope;
        int dim = cfg.dim();
        x = backend.allocate((long) maxBatch * dim);
        xb = backend.allocate((long) maxBatch * dim);
        xb2 = backend.allocate((long) maxBatch * dim);
        q = backend.allocate((long) maxBatch * cfg.qDim());
        k = backend.allocate((long) maxBatch * cfg.kvDim());
        v = backend.allocate((long) maxBatch * cfg.kvDim());
        att = backend.allocate((long) maxBatch * cfg.qDim());
        hb = backend.allocate((long) maxBatch * cfg.ffn());
        hb2 = backend.allocate((long) maxBatch * cfg.ffn());
        boolean last = endLayer == cfg.layers();
        xr = last ? backend.allocate((long) LOGIT_ROWS * dim) : null;
        logits = last ? backend.allocate((long) LOGIT_ROWS * cfg.vocab()) : null;
        java.util.List<java.nio.file.Path> paths = file.paths();
        WeightOrigin[] parts = new WeightOrigin[paths.size()];
        for (int i = 0; i < parts.length; i++) parts[i] = WeightOrigin.of(paths.get(i), 0);
        forEachMatrix(t -> backend.prepareWeight(t, origin(file, parts, t)));
    }

    /** The weight matrices the backend multiplies by: every layer's seven, then the head's (last stage). */
    private void forEachMatrix(java.util.function.Consumer<Tensor> f) {
        for (LayerWeights w : layers) {
            for (Tensor t : new Tensor[]{w.wq(), w.wk(), w.wv(), w.wo(), w.gate(), w.up(), w.down()}) f.accept(t);
        }
        if (output != null) f.accept(output);
    }

    /** {@code t}'s origin: its part of the file (as examined at load) and its offset there; null when unknown. */
    private static WeightOrigin origin(GgufFile file, WeightOrigin[] parts, Tensor t) {
        io.strata.engine.gguf.TensorInfo info = file.tensorInfos().get(t.name());
        WeightOrigin part = info == null ? null : parts[info.split()];
        return part == null ? null : new WeightOrigin(part.file(), part.version(), info.fileOffset());
    }

    /**
     * Views the tensors of layers {@code [firstLayer, endLayer)} (plus the embedding on the first stage and the head
     * on the last) and allocates activations for steps of up to {@code maxBatch} rows.
     */
    public static Stage load(GgufFile file, ModelConfig cfg, int firstLayer, int endLayer, Backend backend, int maxBatch) {
        if (firstLayer < 0 || endLayer > cfg.layers() || firstLayer >= endLayer) {
            throw new IllegalArgumentException("layer range [" + firstLayer + ", " + endLayer + ") is not within the model's "
                    + cfg.layers() + " layers");
        }
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be positive: " + maxBatch);
        int dim = cfg.dim();
        Tensor embd = firstLayer == 0 ? expect(file, "token_embd.weight", dim, cfg.vocab()) : null;
        LayerWeights[] layers = new LayerWeights[endLayer - firstLayer];
        for (int l = firstLayer; l < endLayer; l++) {
            String b = "blk." + l + ".";
            layers[l - firstLayer] = new LayerWeights(l,
                    expect(file, b + "attn_norm.weight", dim),
                    expect(file, b + "attn_q.weight", dim, cfg.qDim()),
                    expect(file, b + "attn_k.weight", dim, cfg.kvDim()),
                    expect(file, b + "attn_v.weight", dim, cfg.kvDim()),
                    cfg.attnBias() ? expect(file, b + "attn_q.bias", cfg.qDim()) : null,
                    cfg.attnBias() ? expect(file, b + "attn_k.bias", cfg.kvDim()) : null,
                    cfg.attnBias() ? expect(file, b + "attn_v.bias", cfg.kvDim()) : null,
                    expect(file, b + "attn_output.weight", cfg.qDim(), dim),
                    expect(file, b + "ffn_norm.weight", dim),
                    expect(file, b + "ffn_gate.weight", dim, cfg.ffn()),
                    expect(file, b + "ffn_up.weight", dim, cfg.ffn()),
                    expect(file, b + "ffn_down.weight", cfg.ffn(), dim));
        }
        Tensor outNorm = null;
        Tensor out = null;
        if (endLayer == cfg.layers()) {
            outNorm = expect(file, "output_norm.weight", dim);
            out = expect(file, cfg.tiedEmbeddings() ? "token_embd.weight" : "output.weight", dim, cfg.vocab());
        }
        return new Stage(file, cfg, backend, firstLayer, endLayer, maxBatch, embd, layers, outNorm, out, rope(file, cfg));
    }

    private static Rope rope(GgufFile file, ModelConfig cfg) {
        int pairs = cfg.ropeDims() / 2;
        float[] factors = null;
        Tensor freqs = file.findTensor("rope_freqs.weight");
        if (freqs != null) {
            if (freqs.type() != GgmlType.F32 || freqs.elements() != pairs) {
                throw new GgufException(file.path(), "rope_freqs.weight", -1, "expected " + pairs + " F32 values, found "
                        + freqs.type() + " " + freqs.elements());
            }
            factors = new float[pairs];
            for (int i = 0; i < pairs; i++) {
                factors[i] = freqs.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i);
            }
        }
        if (cfg.ropeScale() != 1f) {
            if (factors == null) {
                factors = new float[pairs];
                java.util.Arrays.fill(factors, 1f);
            }
            for (int i = 0; i < pairs; i++) factors[i] *= cfg.ropeScale();
        }
        return new Rope(cfg.ropeDims(), cfg.ropeNeox(), cfg.ropeBase(), factors);
    }

    /** The named tensor with exactly the given ggml shape; a clear error otherwise. */
    private static Tensor expect(GgufFile file, String name, long... shape) {
        Tensor t = file.tensor(name);
        long[] s = t.shape();
        boolean ok = s.length >= shape.length;
        for (int i = 0; ok && i < s.length; i++) ok = s[i] == (i < shape.length ? shape[i] : 1);
        if (!ok) {
            throw new GgufException(file.path(), name, -1, "shape " + java.util.Arrays.toString(s) + " does not match the model's "
                    + java.util.Arrays.toString(shape));
        }
        if (s.length == 1 && shape.length == 1 && t.type() != GgmlType.F32) {
            throw new GgufException(file.path(), name, -1, "vector tensors must be F32, found " + t.type());
        }
        return t;
    }

    public ModelConfig config() {
        return cfg;
    }

    public int firstLayer() {
        return firstLayer;
    }

    public int endLayer() {
        return endLayer;
    }

    public boolean isFirst() {
        return firstLayer == 0;
    }

    public boolean isLast() {
        return endLayer == cfg.layers();
    }

    public int maxBatch() {
        return maxBatch;
    }

    public Backend backend() {
        return backend;
    }

    /** Bytes of the weights this stage reads (its layers, plus embedding and head where it has them). */
    public long weightBytes() {
        long n = 0;
        for (Tensor t : tensors()) n += t.data().byteSize();
        return n;
    }

    /**
     * Reads this stage's tensors into memory now (and only them), so the first step does not wait on page faults.
     * Returns the bytes paged in.
     */
    public long pageIn() {
        long n = 0;
        for (Tensor t : tensors()) {
            t.data().load();
            n += t.data().byteSize();
        }
        return n;
    }

    /** Every tensor this stage reads. */
    public java.util.List<Tensor> tensors() {
        java.util.List<Tensor> list = new java.util.ArrayList<>();
        if (tokenEmbd != null) list.add(tokenEmbd);
        for (LayerWeights lw : layers) {
            for (Tensor t : new Tensor[]{lw.attnNorm(), lw.wq(), lw.wk(), lw.wv(), lw.bq(), lw.bk(), lw.bv(), lw.wo(),
                    lw.ffnNorm(), lw.gate(), lw.up(), lw.down()}) {
                if (t != null) list.add(t);
            }
        }
        if (outputNorm != null) list.add(outputNorm);
        if (output != null && (tokenEmbd == null || !output.name().equals(tokenEmbd.name()))) list.add(output);
        return list;
    }

    /** A KV cache for one sequence covering this stage's layers. */
    public KvCache newCache(int contextLength, KvType type) {
        return backend.newKvCache(firstLayer, endLayer, contextLength, cfg.kvDim(), type);
    }

    /** Floats {@link #forward} writes for a step: {@code n*dim} hidden values, or {@code logitRows*vocab} logits on the last stage. */
    public int outputFloats(Step step) {
        return isLast() ? step.logitRows().length * cfg.vocab() : step.n() * cfg.dim();
    }

    /**
     * Runs one step. Writes hidden states {@code [n][dim]} into {@code out}, or, on the last stage, the logits of
     * {@code step.logitRows()} ({@code [rows][vocab]}). Steps longer than {@code maxBatch} run in chunks.
     */
    public void forward(Step step, float[] out) {
        int n = step.n();
        if (isFirst() ? step.tokens() == null || step.tokens().length < n : step.hidden() == null || step.hidden().length < n * cfg.dim()) {
            throw new IllegalArgumentException(isFirst() ? "the first stage needs " + n + " token ids" : "this stage needs " + n + " hidden rows");
        }
        if (step.positions().length < n || step.caches().length < n) {
            throw new IllegalArgumentException("step has " + n + " rows but " + step.positions().length + " positions and "
                    + step.caches().length + " caches");
        }
        if (out.length < outputFloats(step)) {
            throw new IllegalArgumentException("output holds " + out.length + " floats, the step writes " + outputFloats(step));
        }
        for (int i = 0; i < n; i++) {
            KvCache c = step.caches()[i];
            if (c.firstLayer() > firstLayer || c.endLayer() < endLayer) {
                throw new IllegalArgumentException("row " + i + ": cache covers layers [" + c.firstLayer() + ", " + c.endLayer()
                        + ") but this stage runs [" + firstLayer + ", " + endLayer + ")");
            }
            if (step.positions()[i] < 0 || step.positions()[i] >= c.contextLength()) {
                throw new IllegalArgumentException("row " + i + ": position " + step.positions()[i] + " is outside the cache's context of "
                        + c.contextLength());
            }
        }
        int dim = cfg.dim();
        int doneLogits = 0;
        for (int start = 0; start < n; start += maxBatch) {
            int m = Math.min(maxBatch, n - start);
            int[] pos = java.util.Arrays.copyOfRange(step.positions(), start, start + m);
            KvCache[] caches = java.util.Arrays.copyOfRange(step.caches(), start, start + m);
            if (isFirst()) {
                backend.embed(tokenEmbd, java.util.Arrays.copyOfRange(step.tokens(), start, start + m), m, x);
            } else {
                backend.upload(step.hidden(), start * dim, m * dim, x);
            }
            layers(m, pos, caches);
            if (!isLast()) {
                backend.sync();
                backend.download(x, 0, out, start * dim, m * dim);
            } else {
                doneLogits = head(step.logitRows(), start, m, doneLogits, out);
            }
        }
    }

    private void layers(int n, int[] pos, KvCache[] caches) {
        int dim = cfg.dim();
        for (LayerWeights w : layers) {
            // attention
            backend.rmsNorm(x, w.attnNorm(), n, dim, cfg.rmsEps(), xb);
            backend.matmul(w.wq(), xb, n, q);
            backend.matmul(w.wk(), xb, n, k);
            backend.matmul(w.wv(), xb, n, v);
            if (w.bq() != null) {
                backend.addBias(q, w.bq(), n);
                backend.addBias(k, w.bk(), n);
                backend.addBias(v, w.bv(), n);
            }
            backend.rope(q, n, cfg.heads(), cfg.headDim(), pos, rope);
            backend.rope(k, n, cfg.kvHeads(), cfg.headDim(), pos, rope);
            backend.attention(q, k, v, n, w.layer(), caches, pos, cfg.heads(), cfg.kvHeads(), cfg.headDim(), att);
            backend.matmul(w.wo(), att, n, xb2);
            backend.add(x, xb2, (long) n * dim);
            // feed-forward
            backend.rmsNorm(x, w.ffnNorm(), n, dim, cfg.rmsEps(), xb);
            backend.matmul(w.gate(), xb, n, hb);
            backend.matmul(w.up(), xb, n, hb2);
            backend.siluMul(hb, hb2, (long) n * cfg.ffn());
            backend.matmul(w.down(), hb, n, xb2);
            backend.add(x, xb2, (long) n * dim);
        }
    }

    /** Output norm and head for the requested rows that fall in chunk {@code [start, start+m)}. */
    private int head(int[] logitRows, int start, int m, int done, float[] out) {
        int vocab = cfg.vocab();
        int count = 0;
        for (int r : logitRows) if (r >= start && r < start + m) count++;
        if (count == 0) {
            backend.sync();
            return done;
        }
        int[] rows = new int[count];
        int j = 0;
        for (int r : logitRows) if (r >= start && r < start + m) rows[j++] = r - start;
        for (int off = 0; off < count; off += LOGIT_ROWS) {
            int c = Math.min(LOGIT_ROWS, count - off);
            backend.copyRows(x, java.util.Arrays.copyOfRange(rows, off, off + c), cfg.dim(), xr);
            backend.rmsNorm(xr, outputNorm, c, cfg.dim(), cfg.rmsEps(), xr);
            backend.matmul(output, xr, c, logits);
            backend.sync();
            backend.download(logits, 0, out, (done + off) * vocab, c * vocab);
        }
        return done + count;
    }

    @Override
    public void close() {
        // Buffers belong to the backend and the map to the GgufFile; what the backend made of the weights (the CPU
        // backend's interleaved copies) is freed now.
        forEachMatrix(backend::releaseWeight);
    }
}
