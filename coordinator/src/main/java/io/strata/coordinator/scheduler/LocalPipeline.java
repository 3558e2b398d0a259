package io.strata.coordinator.scheduler;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.sample.Sample;
import io.strata.engine.sample.Sampler;
import io.strata.engine.sample.SamplingParams;
import io.strata.engine.sample.SequenceSampler;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A pipeline whose stages all run in this process: one {@link Stage} per layer range, each on its own thread with its
 * own {@link Backend}, handing hidden states to the next stage's thread. It behaves like the cluster's pipeline
 * (batches flow stage to stage first-in first-out, several in flight, KV caches per sequence per stage, sampling on
 * the last stage), so the scheduler's batching and pipeline filling can be tested and measured without processes.
 *
 * <p>KV caches are allocated per sequence at its first step, sized for the positions it reserved, and freed by
 * {@link #release}. Sampling on the last stage with the engine's {@link Sampler}: greedy (lowest id on ties) or seeded
 * temperature / top-k / top-p draws, OpenAI's frequency and presence penalties over the tokens generated so far, and
 * log-probabilities of the raw distribution.
 */
public final class LocalPipeline implements PipelineExecutor {

    /**
     * Settings.
     *
     * @param stages         number of stages; layers are split as evenly as possible, earlier stages taking the extra
     * @param kvType         KV cache element type
     * @param contextLength  positions one sequence may use (at most the model's trained context)
     * @param maxSequences   sequences holding a cache at once
     * @param totalPositions positions all caches together may hold (bounds KV memory)
     * @param maxBatch       rows per forward chunk inside a stage
     */
    public record Options(int stages, KvType kvType, int contextLength, int maxSequences, long totalPositions, int maxBatch) {
        public static Options defaults(int stages, ModelConfig cfg) {
            int ctx = Math.min(cfg.contextLength(), 4096);
            return new Options(stages, KvType.F16, ctx, 16, 16L * ctx, 512);
        }
    }

    private final ModelConfig cfg;
    private final Runner[] runners;
    private final KvLimits limits;
    private final KvType kvType;

    /** One stage and its thread; every field below the thread is touched only on that thread. */
    private final class Runner {
        final int index;
        final Stage stage;
        final Backend backend;
        final ExecutorService thread;
        final Map<Long, KvCache> caches = new HashMap<>();
        volatile long kvBytes;
        float[] logits = new float[0];    // last stage: [sampled rows][vocab], grown as needed
        final Sampler sampler;            // last stage: working buffers shared by its sequences
        final Map<Long, SequenceSampler> samplers = new HashMap<>();  // last stage: per-sequence state

        Runner(int index, Stage stage, Backend backend) {
            this.index = index;
            this.stage = stage;
            this.backend = backend;
            this.sampler = stage.isLast() ? new Sampler(cfg.vocab()) : null;
            this.thread = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "stage-" + index);
                t.setDaemon(true);
                return t;
            });
        }

        String where() {
            return "stage " + index + " (local-" + index + ", layers [" + stage.firstLayer() + ", " + stage.endLayer() + "))";
        }

        void run(Batch batch, float[] hidden, long arrived, List<StageTime> timings, CompletableFuture<Result> done) {
            long start = System.nanoTime();
            try {
                int n = batch.tokens();
                int[] tokens = stage.isFirst() ? new int[n] : null;
                int[] positions = new int[n];
                KvCache[] rowCaches = new KvCache[n];
                int sampled = 0;
                for (Row row : batch.rows()) if (row.sample()) sampled++;
                int[] logitRows = new int[sampled];
                int r = 0;
                int s = 0;
                for (Row row : batch.rows()) {
                    KvCache cache = caches.get(row.seq());
                    if (cache == null) {
                        int positionsNeeded = Math.min(Math.max(row.reserve(), row.start() + row.tokens().length), limits.contextLength());
                        cache = stage.newCache(positionsNeeded, kvType);
                        caches.put(row.seq(), cache);
                        kvBytes += cache.bytes();
                    }
                    if (row.start() + row.tokens().length > cache.contextLength()) {
                        throw new IllegalArgumentException("sequence " + row.seq() + " needs position "
                                + (row.start() + row.tokens().length - 1) + " but its cache holds " + cache.contextLength());
                    }
                    for (int j = 0; j < row.tokens().length; j++) {
                        if (tokens != null) tokens[r] = row.tokens()[j];
                        positions[r] = row.start() + j;
                        rowCaches[r] = cache;
                        r++;
                    }
                    if (row.sample()) logitRows[s++] = r - 1;
                }
                Step step = new Step(n, tokens, stage.isFirst() ? null : hidden, positions, rowCaches, logitRows);
                if (!stage.isLast()) {
                    float[] out = new float[stage.outputFloats(step)];
                    stage.forward(step, out);
                    timings.add(new StageTime(index, start - arrived, System.nanoTime() - start));
                    Runner next = runners[index + 1];
                    long handed = System.nanoTime();
                    next.thread.execute(() -> next.run(batch, out, handed, timings, done));
                } else {
                    int need = stage.outputFloats(step);
                    if (logits.length < need) logits = new float[need];
                    stage.forward(step, logits);
                    List<SeqOutput> outputs = new ArrayList<>();
                    List<SeqFailure> failures = new ArrayList<>();
                    sample(batch, outputs, failures);
                    timings.add(new StageTime(index, start - arrived, System.nanoTime() - start));
                    done.complete(new Result(batch.id(), outputs, failures, List.copyOf(timings)));
                }
            } catch (RuntimeException | OutOfMemoryError e) {
                done.completeExceptionally(new PipelineException(where() + ": step " + batch.id() + " failed: " + e, e));
            }
        }

        private void sample(Batch batch, List<SeqOutput> outputs, List<SeqFailure> failures) {
            int vocab = cfg.vocab();
            int k = 0;
            for (Row row : batch.rows()) {
                if (!row.sample()) continue;
                int off = k++ * vocab;
                SequenceSampler seq = samplers.get(row.seq());
                if (seq == null) {
                    try {
                        seq = new SequenceSampler(params(row.sampling(), limits.contextLength()));
                        if (row.generated().length > 0) seq.resume(row.generated());
                    } catch (IllegalArgumentException e) {
                        failures.add(new SeqFailure(row.seq(), where() + ": " + e.getMessage()));
                        continue;
                    }
                    samplers.put(row.seq(), seq);
                }
                Sample s = sampler.sample(logits, off, seq);
                List<TokenLogprob> top = new ArrayList<>(s.topIds().length);
                for (int i = 0; i < s.topIds().length; i++) top.add(new TokenLogprob(s.topIds()[i], s.topLogprobs()[i]));
                outputs.add(new SeqOutput(row.seq(), s.token(), s.logprob(), List.copyOf(top)));
            }
        }

        void drop(long seq) {
            samplers.remove(seq);
            KvCache c = caches.remove(seq);
            if (c != null) {
                kvBytes -= c.bytes();
                c.close();
            }
        }
    }

    private LocalPipeline(ModelConfig cfg, Runner[] runners, KvLimits limits, KvType kvType) {
        this.cfg = cfg;
        this.runners = runners;
        this.limits = limits;
        this.kvType = kvType;
    }

    /**
     * Loads the model's layers as {@code options.stages()} stages, each on a backend from {@code backends} (called
     * once per stage: backends are not shared between threads). The file stays owned by the caller.
     */
    public static LocalPipeline start(GgufFile file, Options options, Supplier<Backend> backends) {
        ModelConfig cfg = ModelConfig.from(file);
        int n = options.stages();
        if (n < 1 || n > cfg.layers()) {
            throw new IllegalArgumentException("stages must be between 1 and the model's " + cfg.layers() + " layers: " + n);
        }
        if (options.contextLength() < 1 || options.contextLength() > cfg.contextLength()) {
            throw new IllegalArgumentException("context length must be between 1 and the model's " + cfg.contextLength() + ": "
                    + options.contextLength());
        }
        KvLimits limits = new KvLimits(options.maxSequences(), options.contextLength(), options.totalPositions());
        Runner[] runners = new Runner[n];
        LocalPipeline p = new LocalPipeline(cfg, runners, limits, options.kvType());
        int first = 0;
        for (int i = 0; i < n; i++) {
            int layers = cfg.layers() / n + (i < cfg.layers() % n ? 1 : 0);
            Backend b = backends.get();
            runners[i] = p.new Runner(i, Stage.load(file, cfg, first, first + layers, b, options.maxBatch()), b);
            first += layers;
        }
        return p;
    }

    @Override
    public List<StageInfo> stages() {
        long rss = residentBytes();
        List<StageInfo> out = new ArrayList<>(runners.length);
        for (Runner r : runners) {
            out.add(new StageInfo(r.index, r.stage.firstLayer(), r.stage.endLayer(), "local-" + r.index, r.backend.name(), true,
                    r.stage.weightBytes(), r.kvBytes, rss));
        }
        return out;
    }

    @Override
    public boolean ready() {
        return true;
    }

    @Override
    public int vocabSize() {
        return cfg.vocab();
    }

    @Override
    public KvLimits kvLimits() {
        return limits;
    }

    public ModelConfig config() {
        return cfg;
    }

    @Override
    public CompletableFuture<Result> submit(Batch batch) {
        CompletableFuture<Result> done = new CompletableFuture<>();
        Runner first = runners[0];
        long now = System.nanoTime();
        List<StageTime> timings = new ArrayList<>(runners.length);
        first.thread.execute(() -> first.run(batch, null, now, timings, done));
        return done;
    }

    @Override
    public void release(long seq) {
        for (Runner r : runners) r.thread.execute(() -> r.drop(seq));
    }

    @Override
    public void close() {
        for (Runner r : runners) r.thread.shutdown();
        for (Runner r : runners) {
            try {
                if (!r.thread.awaitTermination(30, TimeUnit.SECONDS)) r.thread.shutdownNow();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            for (KvCache c : r.caches.values()) c.close();
            r.caches.clear();
            r.backend.close();
        }
    }

    /**
     * OpenAI's sampling in the engine's terms: no top-k or min-p unless asked, no repetition penalty; frequency and
     * presence penalties count every token generated so far (up to the context length), not the prompt.
     */
    public static SamplingParams params(Sampling s, int contextLength) {
        SamplingParams.Builder b = SamplingParams.builder().temperature(s.temperature()).topK(s.topK()).topP(s.topP()).minP(0f)
                .repeatPenalty(1f).frequencyPenalty(s.frequencyPenalty()).presencePenalty(s.presencePenalty())
                .penaltyLastN(s.penalized() ? contextLength : 0).seed(s.seed());
        if (s.logprobs()) b.logprobs(s.topLogprobs());
        return b.build();
    }

    /** Resident memory of this process from /proc (Linux); 0 elsewhere. */
    static long residentBytes() {
        Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) return 0;
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.substring(6).replace("kB", "").trim()) * 1024;
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }
}
