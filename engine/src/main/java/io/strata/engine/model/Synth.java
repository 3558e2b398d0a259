package io.strata.engine.model;

import io.strata.engine.cpu.Quantize;
import io.strata.engine.gguf.GgufValueType;
import io.strata.engine.gguf.GgufWriter;
import io.strata.engine.tensor.GgmlType;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Writes a random-weight model GGUF with a real model's shapes ({@code strata synth}): for capacity planning,
 * benchmarks and cluster tests at the size of Llama 3.1 405B without its weights. The file says what it is
 * ({@code general.name} starts with "synthetic random noise"); its outputs are meaningless text.
 *
 * <p>What it holds:
 * <ul>
 *   <li>the preset's metadata ({@code <arch>.*}, with {@code block_count} = the layers kept), {@code strata.synth.*}
 *       (preset, seed, the preset's full layer count) and a {@link SynthVocab} byte-level BPE tokenizer of the
 *       preset's vocabulary size that llama.cpp loads ({@code gpt2} model, {@code llama-bpe} or {@code qwen2} pre);</li>
 *   <li>weights as the oracle's {@code make_model.mjs} draws them: matrices N(0, (gain/sqrt(fan_in))^2) with gain 3
 *       for {@code token_embd}/{@code output} and 1 otherwise, norms 1 + 0.1 N(0,1), q/k/v biases (qwen2) N(0,1);
 *       the random streams are seeded per (seed, tensor, row), so the bytes depend on neither the thread count nor
 *       the other tensors (but they are not the oracle's stream: {@link SynthRandom} is much faster);</li>
 *   <li>for Llama 3.1/3.2 presets, {@code rope_freqs.weight}: the llama3 RoPE scaling factors as
 *       {@code convert_hf_to_gguf.py} computes them from the preset's {@link RopeScaling};</li>
 *   <li>norms, biases and {@code rope_freqs} in F32; every matrix (embedding and output included) in the chosen
 *       type, quantized with {@link Quantize} (llama.cpp's reference rounding for the legacy types, a simpler scale
 *       search for K-quants).</li>
 * </ul>
 *
 * <p>Streaming: one chunk of rows (at most {@value #CHUNK_BYTES} bytes of output) is generated at a time, split
 * between the threads by rows, and handed to the {@link GgufWriter}; memory use does not grow with the model.
 */
public final class Synth {

    /** Output bytes generated per step (split between the threads). */
    static final int CHUNK_BYTES = 32 << 20;

    private Synth() {
    }

    /** Llama 3 RoPE scaling ({@code rope_scaling} of type {@code llama3} in the Hugging Face config). */
    public record RopeScaling(float factor, float lowFreqFactor, float highFreqFactor, int originalContext) {}

    /**
     * A model shape.
     *
     * @param ropeScaling   llama3 RoPE scaling, or null for plain RoPE
     * @param attnBias      q/k/v projections carry biases (qwen2)
     * @param tokenizerPre  {@code tokenizer.ggml.pre}: {@code llama-bpe} (Llama 3 control tokens, BOS added) or
     *                      {@code qwen2} (ChatML control tokens, no BOS; see {@link SynthVocab#forPre})
     */
    public record Preset(String name, String architecture, int dim, int layers, int heads, int kvHeads, int ffn,
                         int vocab, int contextLength, float ropeBase, float rmsEps, RopeScaling ropeScaling,
                         boolean tiedEmbeddings, boolean attnBias, String tokenizerPre) {
        public Preset {
            if (dim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || ffn <= 0 || dim % heads != 0 || heads % kvHeads != 0) {
                throw new IllegalArgumentException(name + ": inconsistent shape");
            }
        }

        public int headDim() {
            return dim / heads;
        }

        /** The same shapes with {@code n} layers. */
        public Preset withLayers(int n) {
            return new Preset(name, architecture, dim, n, heads, kvHeads, ffn, vocab, contextLength, ropeBase, rmsEps,
                    ropeScaling, tiedEmbeddings, attnBias, tokenizerPre);
        }

        /** The same shapes with a vocabulary of {@code n} tokens (smaller test files). */
        public Preset withVocab(int n) {
            return new Preset(name, architecture, dim, layers, heads, kvHeads, ffn, n, contextLength, ropeBase, rmsEps,
                    ropeScaling, tiedEmbeddings, attnBias, tokenizerPre);
        }
    }

    private static final RopeScaling LLAMA31_ROPE = new RopeScaling(8f, 1f, 4f, 8192);
    private static final RopeScaling LLAMA32_ROPE = new RopeScaling(32f, 1f, 4f, 8192);

    /** The presets {@code --like} accepts (shapes from the models' published configs). */
    public static final List<Preset> PRESETS = List.of(
            new Preset("llama-3.1-405b", "llama", 16384, 126, 128, 8, 53248, 128256, 131072, 500000f, 1e-5f, LLAMA31_ROPE, false, false, "llama-bpe"),
            new Preset("llama-3.1-70b", "llama", 8192, 80, 64, 8, 28672, 128256, 131072, 500000f, 1e-5f, LLAMA31_ROPE, false, false, "llama-bpe"),
            new Preset("llama-3.1-8b", "llama", 4096, 32, 32, 8, 14336, 128256, 131072, 500000f, 1e-5f, LLAMA31_ROPE, false, false, "llama-bpe"),
            new Preset("llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 128256, 131072, 500000f, 1e-5f, LLAMA32_ROPE, true, false, "llama-bpe"),
            // small shapes for local runs and tests: every row a multiple of 256, so every type applies
            new Preset("llama-tiny", "llama", 256, 4, 8, 4, 768, 2048, 4096, 10000f, 1e-5f, null, false, false, "llama-bpe"),
            // the qwen2 fixture's shapes (fixtures/qwen2): attention biases, NeoX RoPE, tied embeddings, no BOS
            new Preset("qwen2-tiny", "qwen2", 64, 2, 4, 2, 64, 320, 2048, 10000f, 1e-6f, null, true, true, "qwen2"));

    /** The preset called {@code name}. */
    public static Preset preset(String name) {
        for (Preset p : PRESETS) if (p.name().equals(name)) return p;
        List<String> names = new ArrayList<>();
        for (Preset p : PRESETS) names.add(p.name());
        throw new IllegalArgumentException("unknown preset '" + name + "' (known: " + String.join(", ", names) + ")");
    }

    /** The weight types {@code --type} accepts. */
    public static final List<GgmlType> TYPES = List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K,
            GgmlType.Q5_K, GgmlType.Q6_K);

    // ------------------------------------------------------------------ the tensors (pure)

    /** What a tensor is filled with. */
    public enum Fill { MATRIX, NORM, BIAS, ROPE_FREQS }

    /**
     * One tensor of a synthetic model.
     *
     * @param layer the block index, or -1 for tensors outside the blocks
     * @param gain  matrices: standard deviation times sqrt(fan_in); biases: standard deviation
     */
    public record TensorSpec(String name, GgmlType type, long[] shape, long bytes, int layer, Fill fill, float gain) {
        public TensorSpec {
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

    /** Every tensor of {@code preset} (all {@code preset.layers()} blocks) with matrices in {@code type}, in file order. */
    public static List<TensorSpec> tensors(Preset preset, GgmlType type) {
        if (!TYPES.contains(type)) throw new IllegalArgumentException("type " + type + " is not one of " + TYPES);
        int dim = preset.dim(), hd = preset.headDim(), q = preset.heads() * hd, kv = preset.kvHeads() * hd;
        List<TensorSpec> out = new ArrayList<>();
        out.add(matrix("token_embd.weight", type, dim, preset.vocab(), -1, 3f));
        if (preset.ropeScaling() != null) out.add(vector("rope_freqs.weight", hd / 2, -1, Fill.ROPE_FREQS, 0f));
        for (int l = 0; l < preset.layers(); l++) {
            String p = "blk." + l + ".";
            out.add(vector(p + "attn_norm.weight", dim, l, Fill.NORM, 0f));
            out.add(matrix(p + "attn_q.weight", type, dim, q, l, 1f));
            if (preset.attnBias()) out.add(vector(p + "attn_q.bias", q, l, Fill.BIAS, 1f));
            out.add(matrix(p + "attn_k.weight", type, dim, kv, l, 1f));
            if (preset.attnBias()) out.add(vector(p + "attn_k.bias", kv, l, Fill.BIAS, 1f));
            out.add(matrix(p + "attn_v.weight", type, dim, kv, l, 1f));
            if (preset.attnBias()) out.add(vector(p + "attn_v.bias", kv, l, Fill.BIAS, 1f));
            out.add(matrix(p + "attn_output.weight", type, q, dim, l, 1f));
            out.add(vector(p + "ffn_norm.weight", dim, l, Fill.NORM, 0f));
            out.add(matrix(p + "ffn_gate.weight", type, dim, preset.ffn(), l, 1f));
            out.add(matrix(p + "ffn_up.weight", type, dim, preset.ffn(), l, 1f));
            out.add(matrix(p + "ffn_down.weight", type, preset.ffn(), dim, l, 1f));
        }
        out.add(vector("output_norm.weight", dim, -1, Fill.NORM, 0f));
        if (!preset.tiedEmbeddings()) out.add(matrix("output.weight", type, dim, preset.vocab(), -1, 3f));
        return out;
    }

    private static TensorSpec matrix(String name, GgmlType type, int cols, int rows, int layer, float gain) {
        if (cols % type.blockSize != 0) {
            throw new IllegalArgumentException(name + ": rows of " + cols + " values cannot be stored as " + type + " (blocks of " + type.blockSize + ")");
        }
        return new TensorSpec(name, type, new long[]{cols, rows}, type.byteSize((long) cols * rows), layer, Fill.MATRIX, gain);
    }

    private static TensorSpec vector(String name, int n, int layer, Fill fill, float gain) {
        return new TensorSpec(name, GgmlType.F32, new long[]{n}, 4L * n, layer, fill, gain);
    }

    /** Bytes of one block's tensors (every block is the same size), without alignment padding. */
    public static long layerBytes(Preset preset, GgmlType type) {
        long n = 0;
        for (TensorSpec t : tensors(preset.withLayers(1), type)) if (t.layer() == 0) n += t.bytes();
        return n;
    }

    /** Bytes of the tensors outside the blocks (embedding, rope factors, output norm and head). */
    public static long nonLayerBytes(Preset preset, GgmlType type) {
        long n = 0;
        for (TensorSpec t : tensors(preset.withLayers(1), type)) if (t.layer() < 0) n += t.bytes();
        return n;
    }

    /** Weights (elements) of the full preset. */
    public static long parameters(Preset preset) {
        long n = 0;
        for (TensorSpec t : tensors(preset, GgmlType.F32)) n += t.elements();
        return n;
    }

    /** Exact size of the file {@link #write} makes for {@code preset} with {@code layers} blocks, without writing it. */
    public static long fileBytes(Preset preset, int layers, GgmlType type) {
        return writer(preset, layers, type, 1, 1).size();
    }

    /** Estimated size of the full model (all of the preset's layers): tensor bytes plus the header, padding included. */
    public static long estimatedBytes(Preset preset, GgmlType type) {
        return fileBytes(preset, preset.layers(), type);
    }

    // ------------------------------------------------------------------ writing

    /** What {@link #write} wrote. */
    public record Summary(Path file, String preset, int layers, GgmlType type, long seed, long bytes, long parameters,
                          int tensors, double seconds) {
        public String toJson() {
            return String.format(Locale.ROOT,
                    "{\"file\":\"%s\",\"preset\":\"%s\",\"layers\":%d,\"type\":\"%s\",\"seed\":%d,\"bytes\":%d,\"parameters\":%d,\"tensors\":%d,\"seconds\":%.3f}",
                    file.toString().replace("\\", "\\\\").replace("\"", "\\\""), preset, layers, type, seed, bytes, parameters, tensors, seconds);
        }
    }

    /** Writes {@code preset} with its first {@code layers} blocks, matrices in {@code type}, weights from {@code seed}. */
    public static Summary write(String preset, int layers, GgmlType type, long seed, Path out) {
        return write(preset(preset), layers, type, seed, out, defaultThreads());
    }

    /** As {@link #write(String, int, GgmlType, long, Path)} for any preset, on {@code threads} threads. */
    public static Summary write(Preset preset, int layers, GgmlType type, long seed, Path out, int threads) {
        long t0 = System.nanoTime();
        GgufWriter w = writer(preset, layers, type, seed, threads);
        long bytes = w.write(out);
        long params = 0;
        for (GgufWriter.TensorEntry t : w.tensors()) {
            long n = 1;
            for (long d : t.shape()) n *= d;
            params += n;
        }
        return new Summary(out, preset.name(), layers, type, seed, bytes, params, w.tensors().size(), (System.nanoTime() - t0) / 1e9);
    }

    /** Two threads at most: the machines this runs on are small and shared, and past two the disk keeps up anyway. */
    static int defaultThreads() {
        return Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors()));
    }

    /** The writer for a synthetic model (tensor data is generated only when it is written). */
    static GgufWriter writer(Preset full, int layers, GgmlType type, long seed, int threads) {
        return writer(full, layers, type, seed, threads, CHUNK_BYTES);
    }

    /** As above, generating {@code chunkBytes} of output at a time (tests use small chunks). */
    static GgufWriter writer(Preset full, int layers, GgmlType type, long seed, int threads, int chunkBytes) {
        if (layers < 1 || layers > full.layers()) {
            throw new IllegalArgumentException("--layers " + layers + ": " + full.name() + " has 1 to " + full.layers() + " layers");
        }
        Preset p = full.withLayers(layers);
        SynthVocab vocab = SynthVocab.forPre(p.tokenizerPre(), p.vocab());
        String a = p.architecture() + ".";
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", p.architecture())
                .putString("general.name", String.format(Locale.ROOT,
                        "synthetic random noise (not a trained model): %s shapes, %d of %d layers, %s, seed %d",
                        full.name(), layers, full.layers(), type, seed))
                .putUInt32("general.file_type", fileType(type))
                .putUInt32("general.quantization_version", 2)
                .putString("strata.synth.preset", full.name())
                .put("strata.synth.seed", GgufValueType.UINT64, seed)
                .putUInt32("strata.synth.full_block_count", full.layers())
                .putUInt32(a + "context_length", p.contextLength())
                .putUInt32(a + "embedding_length", p.dim())
                .putUInt32(a + "block_count", layers)
                .putUInt32(a + "feed_forward_length", p.ffn())
                .putUInt32(a + "attention.head_count", p.heads())
                .putUInt32(a + "attention.head_count_kv", p.kvHeads())
                .putFloat32(a + "rope.freq_base", p.ropeBase())
                .putUInt32(a + "rope.dimension_count", p.headDim())
                .putFloat32(a + "attention.layer_norm_rms_epsilon", p.rmsEps())
                .putUInt32(a + "vocab_size", vocab.size())
                .putString("tokenizer.ggml.model", "gpt2")
                .putString("tokenizer.ggml.pre", p.tokenizerPre())
                .putArray("tokenizer.ggml.tokens", GgufValueType.STRING, vocab.tokens())
                .putArray("tokenizer.ggml.token_type", GgufValueType.INT32, vocab.tokenType())
                .putArray("tokenizer.ggml.merges", GgufValueType.STRING, vocab.merges())
                .putUInt32("tokenizer.ggml.bos_token_id", vocab.bos())
                .putUInt32("tokenizer.ggml.eos_token_id", vocab.eos())
                .putBool("tokenizer.ggml.add_bos_token", vocab.addBos())
                .putBool("tokenizer.ggml.add_eos_token", false);
        for (TensorSpec t : tensors(p, type)) {
            w.addTensor(t.name(), t.type(), t.shape(), sink -> fill(t, p, seed, threads, chunkBytes, sink));
        }
        return w;
    }

    /** llama.cpp's {@code llama_ftype} for a file whose matrices are all {@code type} (K-quants: the "S" mix). */
    static int fileType(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q2_K -> 10;
            case Q3_K -> 11;
            case Q4_K -> 14;
            case Q5_K -> 16;
            case Q6_K -> 18;
            case BF16 -> 32;
            case Q8_K -> throw new IllegalArgumentException("Q8_K is not a weight type");
        };
    }

    /**
     * llama3 RoPE scaling factors, one per rotated pair: 1 for wavelengths shorter than
     * {@code originalContext / highFreqFactor}, {@code factor} for those longer than
     * {@code originalContext / lowFreqFactor}, and a smooth blend between (as {@code convert_hf_to_gguf.py} writes
     * {@code rope_freqs}; llama.cpp divides each pair's frequency by its factor).
     */
    public static float[] llama3RopeFactors(RopeScaling s, float base, int headDim) {
        float[] out = new float[headDim / 2];
        double lowWavelen = s.originalContext() / (double) s.lowFreqFactor();
        double highWavelen = s.originalContext() / (double) s.highFreqFactor();
        for (int i = 0; i < out.length; i++) {
            double freq = 1.0 / Math.pow(base, (2.0 * i) / headDim);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) {
                out[i] = 1f;
            } else if (wavelen > lowWavelen) {
                out[i] = s.factor();
            } else {
                double smooth = (s.originalContext() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                out[i] = (float) (1.0 / ((1 - smooth) / s.factor() + smooth));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ filling

    private static void fill(TensorSpec t, Preset p, long seed, int threads, int chunkBytes, GgufWriter.Sink sink) throws IOException {
        switch (t.fill()) {
            case ROPE_FREQS -> sink.write(MemorySegment.ofArray(toBytes(llama3RopeFactors(p.ropeScaling(), p.ropeBase(), p.headDim()))));
            case NORM -> sink.write(MemorySegment.ofArray(toBytes(normalRow(seed, t.name(), 0, (int) t.shape()[0], 1f, 0.1f))));
            case BIAS -> sink.write(MemorySegment.ofArray(toBytes(normalRow(seed, t.name(), 0, (int) t.shape()[0], 0f, t.gain()))));
            case MATRIX -> matrix(t, seed, threads, chunkBytes, sink);
        }
    }

    private static float[] normalRow(long seed, String name, long row, int n, float mean, float std) {
        float[] out = new float[n];
        SynthRandom rnd = SynthRandom.forRow(seed, name, row);
        for (int i = 0; i < n; i++) out[i] = (float) (mean + std * rnd.nextGaussian());
        return out;
    }

    private static byte[] toBytes(float[] v) {
        byte[] b = new byte[v.length * 4];
        Quantize.quantizeRow(GgmlType.F32, v, 0, MemorySegment.ofArray(b), 0, v.length);
        return b;
    }

    /**
     * A matrix, chunk by chunk: each chunk's rows are split into one contiguous range per thread; each thread draws
     * its rows (one reused row buffer) and quantizes them into the chunk, then the chunk goes to the file.
     * Cost: about 3 ns per weight to draw plus the quantizer's per-weight cost, spread over the threads.
     */
    private static void matrix(TensorSpec t, long seed, int threads, int chunkBytes, GgufWriter.Sink sink) throws IOException {
        int cols = (int) t.shape()[0];
        long rows = t.shape()[1];
        long rowBytes = t.type().byteSize(cols);
        float std = (float) (t.gain() / Math.sqrt(cols));
        int rowsPerChunk = (int) Math.max(1, Math.min(rows, chunkBytes / rowBytes));
        int nThreads = (int) Math.max(1, Math.min(threads, rowsPerChunk));
        try (Arena arena = Arena.ofShared();
             ExecutorService pool = nThreads > 1 ? Executors.newFixedThreadPool(nThreads, r -> {
                 Thread th = new Thread(r, "synth-" + t.name());
                 th.setDaemon(true);
                 return th;
             }) : null) {
            MemorySegment chunk = arena.allocate(rowsPerChunk * rowBytes);
            for (long r0 = 0; r0 < rows; r0 += rowsPerChunk) {
                int n = (int) Math.min(rowsPerChunk, rows - r0);
                if (pool == null) {
                    fillRows(t, seed, std, cols, rowBytes, chunk, r0, 0, n);
                } else {
                    List<Future<?>> parts = new ArrayList<>(nThreads);
                    for (int k = 0; k < nThreads; k++) {
                        int from = (int) ((long) n * k / nThreads), to = (int) ((long) n * (k + 1) / nThreads);
                        long base = r0;
                        parts.add(pool.submit(() -> fillRows(t, seed, std, cols, rowBytes, chunk, base, from, to)));
                    }
                    for (Future<?> f : parts) await(f);
                }
                sink.write(chunk.asSlice(0, n * rowBytes));
            }
        }
    }

    private static void fillRows(TensorSpec t, long seed, float std, int cols, long rowBytes, MemorySegment chunk,
                                 long firstRow, int from, int to) {
        float[] row = new float[cols];
        for (int i = from; i < to; i++) {
            SynthRandom rnd = SynthRandom.forRow(seed, t.name(), firstRow + i);
            for (int c = 0; c < cols; c++) row[c] = (float) (std * rnd.nextGaussian());
            Quantize.quantizeRow(t.type(), row, 0, chunk, i * rowBytes, cols);
        }
    }

    private static void await(Future<?> f) throws IOException {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while generating weights", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            if (e.getCause() instanceof Error err) throw err;
            throw new IOException(e.getCause());
        }
    }

    // ------------------------------------------------------------------ command line (for scripts; the strata CLI calls write)

    /**
     * {@code Synth --like PRESET --out FILE [--layers N] [--type T] [--seed S] [--vocab N] [--threads N]} writes a
     * file and prints a JSON summary; {@code Synth --list} prints the presets with their full-model sizes per type.
     */
    public static void main(String[] args) {
        String like = null, out = null;
        int layers = -1, vocab = -1, threads = defaultThreads();
        GgmlType type = GgmlType.Q4_0;
        long seed = 1;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--list" -> {
                    System.out.println(listJson());
                    return;
                }
                case "--like" -> like = args[++i];
                case "--out" -> out = args[++i];
                case "--layers" -> layers = Integer.parseInt(args[++i]);
                case "--type" -> type = GgmlType.valueOf(args[++i].toUpperCase(Locale.ROOT));
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--vocab" -> vocab = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + a);
            }
        }
        if (like == null || out == null) throw new IllegalArgumentException("usage: --like PRESET --out FILE [--layers N] [--type T] [--seed S] | --list");
        Preset p = preset(like);
        if (vocab > 0) p = p.withVocab(vocab);
        Summary s = write(p, layers > 0 ? layers : p.layers(), type, seed, Path.of(out), threads);
        System.out.println(s.toJson());
    }

    /** Every preset with its shapes, parameter count, bytes per layer and full-model bytes for each type. */
    public static String listJson() {
        StringBuilder sb = new StringBuilder("[\n");
        for (int i = 0; i < PRESETS.size(); i++) {
            Preset p = PRESETS.get(i);
            sb.append(String.format(Locale.ROOT,
                    "  {\"preset\":\"%s\",\"architecture\":\"%s\",\"dim\":%d,\"layers\":%d,\"heads\":%d,\"kv_heads\":%d,\"ffn\":%d,\"vocab\":%d,\"parameters\":%d,\"bytes\":{",
                    p.name(), p.architecture(), p.dim(), p.layers(), p.heads(), p.kvHeads(), p.ffn(), p.vocab(), parameters(p)));
            boolean first = true;
            for (GgmlType t : TYPES) {
                if (p.dim() % t.blockSize != 0 || p.ffn() % t.blockSize != 0) continue;
                if (!first) sb.append(',');
                first = false;
                long tensorBytes = p.layers() * layerBytes(p, t) + nonLayerBytes(p, t);
                sb.append(String.format(Locale.ROOT, "\"%s\":{\"per_layer\":%d,\"tensors\":%d}", t, layerBytes(p, t), tensorBytes));
            }
            sb.append("}}").append(i + 1 < PRESETS.size() ? ",\n" : "\n");
        }
        return sb.append("]").toString();
    }
}
