package io.strata.ops;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.text.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * {@code strata bench}, measured like llama-bench: pp = one batch of N random tokens into an empty cache,
 * tg = N single-token decodes (random tokens) from an empty cache; one warm-up, then {@code --reps} repetitions.
 *
 * <p>Also the way to the first token: from JVM start to the first generated token of a real prompt (tokenizer built,
 * prompt encoded, stage loaded, prompt prefilled, argmax taken), broken down by phase, with whether the interleaved
 * weights came from the repack cache ({@code startup}); with {@code --first-token-runs N}, the same from N fresh JVMs
 * with an empty repack cache (cold) and N with the cache they filled (warm). Then resident memory (file-backed maps
 * vs the rest).
 */
@Command(name = "bench", description = "Time prompt processing (pp) and generation (tg) like llama-bench, and the first token from JVM start; JSON on stdout.")
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

    @Option(names = "--prompt", defaultValue = "The capital of France is", description = "prompt whose first token is timed from JVM start (default: ${DEFAULT-VALUE})")
    String prompt;

    @Option(names = "--first-token-runs", defaultValue = "0", description = "also time the first token in N fresh JVMs with an empty repack cache and N with a filled one (default: ${DEFAULT-VALUE})")
    int firstTokenRuns;

    @Override
    public Integer call() throws IOException, InterruptedException {
        long mainAt = System.currentTimeMillis();
        if (pp < 0 || tg < 0 || reps < 1 || firstTokenRuns < 0) {
            throw new IllegalArgumentException("--pp, --tg and --first-token-runs must be >= 0 and --reps >= 1");
        }
        long jvmStart = ManagementFactory.getRuntimeMXBean().getStartTime();
        long t0 = System.nanoTime();
        try (GgufFile file = GgufFile.open(opts.model); Backend backend = opts.backend()) {
            long tOpen = System.nanoTime();
            ModelConfig cfg = ModelConfig.from(file);
            // Load first: the backend prepares the weights (repack cache or interleaving) on its own threads while
            // this thread builds the tokenizer.
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, Math.min(Math.max(pp, 64), 512));
            long tLoad = System.nanoTime();
            long loadNs = tLoad - t0;
            Tokenizer tok = Tokenizer.fromMetadata(file.metadata());
            int[] promptIds = tok.encode(prompt, true, false);
            if (promptIds.length == 0) throw new IllegalArgumentException("--prompt gives no tokens");
            long tTok = System.nanoTime();
            KvType kvType = KvType.parse(kv);
            Random rnd = new Random(42);
            float[] logits = new float[cfg.vocab()];
            int firstToken;
            try (KvCache c = stage.newCache(promptIds.length, kvType)) {
                stage.forward(Step.ofSequence(promptIds, 0, c, false), logits);
                firstToken = argmax(logits);
            }
            long tFirst = System.nanoTime();
            long firstTokenMs = System.currentTimeMillis() - jvmStart;
            Map<String, Object> startup = new LinkedHashMap<>();
            startup.put("jvm_start_to_main_ms", mainAt - jvmStart);
            startup.put("gguf_open_ms", round((tOpen - t0) / 1e6));
            startup.put("stage_load_ms", round((tLoad - tOpen) / 1e6));
            startup.put("tokenizer_ms", round((tTok - tLoad) / 1e6));
            startup.put("first_forward_ms", round((tFirst - tTok) / 1e6));
            startup.put("prompt_tokens", promptIds.length);
            startup.put("first_token_id", firstToken);
            if (backend instanceof CpuBackend cpu) {
                CpuBackend.PrepareStats ps = cpu.prepareStats();
                startup.put("repack_cache", ps.fromCache() + ps.stored() + ps.temporary() == 0 ? "none"
                        : ps.stored() + ps.temporary() == 0 ? "hit" : ps.fromCache() == 0 ? (ps.stored() > 0 ? "miss" : "off") : "partial");
                startup.put("weights_from_cache", ps.fromCache());
                startup.put("weights_interleaved", ps.stored() + ps.temporary());
                startup.put("prepare_thread_ms", round(ps.millis()));
            }
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
            out.put("startup", startup);
            out.putAll(memory());
            if (firstTokenRuns > 0) out.put("first_token_fresh_jvm", freshJvms());
            System.out.println(Json.write(out));
        }
        return 0;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /**
     * The first token from JVM start in fresh JVMs of this same command line (JVM flags and class path), each pair
     * with a new repack cache directory: first empty (cold), then as the first left it (warm).
     */
    private Map<String, Object> freshJvms() throws IOException, InterruptedException {
        List<Double> cold = new ArrayList<>();
        List<Double> warm = new ArrayList<>();
        List<String> coldCache = new ArrayList<>();
        List<String> warmCache = new ArrayList<>();
        for (int i = 0; i < firstTokenRuns; i++) {
            Path dir = Files.createTempDirectory("strata-bench-cache-");
            try {
                for (int k = 0; k < 2; k++) {
                    Map<?, ?> child = runChild(dir);
                    Map<?, ?> st = (Map<?, ?>) child.get("startup");
                    (k == 0 ? cold : warm).add(((Number) child.get("first_token_ms_since_jvm_start")).doubleValue());
                    (k == 0 ? coldCache : warmCache).add(String.valueOf(st.get("repack_cache")));
                }
            } finally {
                try (var files = Files.walk(dir)) {
                    for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
                }
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cold_ms", stats(firstTokenRuns, cold.stream().mapToDouble(Double::doubleValue).toArray()));
        m.put("cold_repack_cache", coldCache);
        m.put("warm_ms", stats(firstTokenRuns, warm.stream().mapToDouble(Double::doubleValue).toArray()));
        m.put("warm_repack_cache", warmCache);
        return m;
    }

    private Map<?, ?> runChild(Path cacheDir) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib") && !a.startsWith("-javaagent") && !a.startsWith("-XX:AOTCacheOutput")) cmd.add(a);
        }
        cmd.add("-Dstrata.cpu.repackCache=" + cacheDir);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "bench", "-m", opts.model.toString(),
                "-t", String.valueOf(opts.threads), "--pp", "0", "--tg", "0", "--reps", "1", "--kv", kv, "--prompt", prompt));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String stdout = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        int rc = p.waitFor();
        if (rc != 0) throw new IllegalStateException("fresh-JVM bench exited with " + rc + ": " + String.join(" ", cmd));
        String json = stdout.lines().filter(l -> l.startsWith("{")).reduce((a, b) -> b)
                .orElseThrow(() -> new IllegalStateException("fresh-JVM bench printed no JSON: " + stdout));
        return Json.mapper().readValue(json, Map.class);
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
