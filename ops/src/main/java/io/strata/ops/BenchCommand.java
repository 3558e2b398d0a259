package io.strata.ops;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * {@code strata bench}, measured like llama-bench: pp = one batch of N random tokens into an empty cache,
 * tg = N single-token decodes (random tokens) from an empty cache; one warm-up, then {@code --reps} repetitions.
 * Also reports load time, time from JVM start to the first token, and resident memory (file-backed map vs the rest).
 */
@Command(name = "bench", description = "Time prompt processing (pp) and generation (tg) like llama-bench; JSON on stdout.")
public final class BenchCommand implements Callable<Integer> {
    @Mixin
    ModelOptions opts;

    @Option(names = "--pp", defaultValue = "128", description = "prompt tokens in one batch (0 to skip; default: ${DEFAULT-VALUE})")
    int pp;

    @Option(names = "--tg", defaultValue = "64", description = "generated tokens (0 to skip; default: ${DEFAULT-VALUE})")
    int tg;

    @Option(names = "--reps", defaultValue = "5", description = "repetitions after one warm-up (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--kv", defaultValue = "f16", description = "KV cache type f32|f16 (default: ${DEFAULT-VALUE}, as llama-bench)")
    String kv;

    @Override
    public Integer call() throws IOException {
        if (pp < 0 || tg < 0 || reps < 1) throw new IllegalArgumentException("--pp and --tg must be >= 0 and --reps >= 1");
        long t0 = System.nanoTime();
        try (GgufFile file = GgufFile.open(opts.model); Backend backend = opts.backend()) {
            ModelConfig cfg = ModelConfig.from(file);
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, Math.max(1, Math.min(pp, 512)));
            long loadNs = System.nanoTime() - t0;
            KvType kvType = KvType.parse(kv);
            Random rnd = new Random(42);
            float[] logits = new float[cfg.vocab()];
            // warm-up: a short decode gives the first token; then one full pp and tg
            try (KvCache c = stage.newCache(8, kvType)) {
                stage.forward(Step.ofSequence(new int[]{rnd.nextInt(cfg.vocab())}, 0, c, false), logits);
            }
            long firstTokenMs = System.currentTimeMillis() - ManagementFactory.getRuntimeMXBean().getStartTime();
            double[] ppRuns = new double[reps];
            double[] tgRuns = new double[reps];
            for (int r = -1; r < reps; r++) {
                if (pp > 0) {
                    double s = runPp(stage, kvType, rnd, logits);
                    if (r >= 0) ppRuns[r] = pp / s;
                }
                if (tg > 0) {
                    double s = runTg(stage, kvType, rnd, logits);
                    if (r >= 0) tgRuns[r] = tg / s;
                }
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("model", opts.model.toString());
            out.put("backend", backend.name());
            out.put("threads", opts.threads);
            out.put("kv_type", kv);
            out.put("weights_bytes", stage.weightBytes());
            out.put("reps", reps);
            if (pp > 0) out.put("pp", stats(pp, ppRuns));
            if (tg > 0) out.put("tg", stats(tg, tgRuns));
            out.put("load_ms", loadNs / 1e6);
            out.put("first_token_ms_since_jvm_start", firstTokenMs);
            out.putAll(memory());
            System.out.println(Json.write(out));
        }
        return 0;
    }

    private double runPp(Stage stage, KvType kvType, Random rnd, float[] logits) {
        int vocab = stage.config().vocab();
        int[] tokens = new int[pp];
        for (int i = 0; i < pp; i++) tokens[i] = rnd.nextInt(vocab);
        try (KvCache c = stage.newCache(pp, kvType)) {
            long t = System.nanoTime();
            stage.forward(Step.ofSequence(tokens, 0, c, false), logits);
            return (System.nanoTime() - t) / 1e9;
        }
    }

    private double runTg(Stage stage, KvType kvType, Random rnd, float[] logits) {
        int vocab = stage.config().vocab();
        int[] one = new int[1];
        try (KvCache c = stage.newCache(tg, kvType)) {
            long t = System.nanoTime();
            for (int i = 0; i < tg; i++) {
                one[0] = rnd.nextInt(vocab);
                stage.forward(Step.ofSequence(one, i, c, false), logits);
            }
            return (System.nanoTime() - t) / 1e9;
        }
    }

    static Map<String, Object> stats(int n, double[] runs) {
        double[] s = runs.clone();
        Arrays.sort(s);
        double median = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("n", n);
        m.put("median", round(median));
        m.put("min", round(s[0]));
        m.put("max", round(s[s.length - 1]));
        double[] r = new double[runs.length];
        for (int i = 0; i < r.length; i++) r[i] = round(runs[i]);
        m.put("runs", r);
        return m;
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    /** Resident memory from /proc (Linux): the file-backed map and the anonymous rest (heap, code, native). */
    static Map<String, Object> memory() {
        Map<String, Object> m = new LinkedHashMap<>();
        Runtime rt = Runtime.getRuntime();
        m.put("heap_used_bytes", rt.totalMemory() - rt.freeMemory());
        Path status = Path.of("/proc/self/status");
        if (Files.isReadable(status)) {
            try {
                for (String line : Files.readAllLines(status)) {
                    String[] kv = line.split(":\\s+");
                    if (kv.length == 2 && (kv[0].equals("VmRSS") || kv[0].equals("RssAnon") || kv[0].equals("RssFile") || kv[0].equals("VmHWM"))) {
                        m.put(kv[0].toLowerCase() + "_bytes", Long.parseLong(kv[1].replace(" kB", "").trim()) * 1024);
                    }
                }
            } catch (IOException | NumberFormatException e) {
                m.put("memory_error", e.toString());
            }
        }
        return m;
    }
}
