package io.strata.coordinator.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.strata.coordinator.Coordinator;
import io.strata.coordinator.scheduler.ClusterPipeline;
import io.strata.coordinator.scheduler.LocalPipeline;
import io.strata.coordinator.scheduler.Scheduler;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.worker.testing.WorkerProcesses;
import org.apache.curator.test.TestingServer;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

/**
 * The gateway benchmark (BENCHMARKS.md, "Gateway"): a cluster on loopback (embedded ZooKeeper, a coordinator in this
 * JVM, one worker process per stage, each with one CPU thread), the scheduler and the gateway, driven over HTTP with
 * streaming requests. Measures, per concurrency, the aggregate decode rate and inter-token latency percentiles;
 * inter-token latency while 512-token prompts arrive; time to first token of a 512-token prompt against a one-process
 * prefill of the same length (what {@code strata bench --pp 512 --threads 1} measures).
 *
 * <pre>
 * java ... io.strata.coordinator.gateway.GatewayBench --model llama1b-Q4_0.gguf [--stages 3] [--tokens 64]
 *     [--bounds 0,7,14,16] [--concurrency 1,4,8,16] [--stagger-seconds 8] [--stagger-prompts 5] [--reps 3] [--scenarios ttft,concurrency,staggered]
 *     [--local true | --url http://127.0.0.1:8080/v1 [--model-id ID]] [--out FILE]
 * </pre>
 * A JSON object per scenario goes to stdout (and to {@code --out}). {@code --local true} runs every stage in this JVM
 * ({@link LocalPipeline}) instead, to separate the gateway's and scheduler's cost from the processes' and gRPC's;
 * {@code --url} drives a server that is already running (e.g. {@code strata local}); {@code --model} is then only
 * read for the vocabulary size and the one-process prefill reference.
 */
public final class GatewayBench {
    static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String url;
    private final String model;
    private final int vocab;
    private final Random rnd = new Random(7);

    GatewayBench(String url, String model, int vocab) {
        this.url = url;
        this.model = model;
        this.vocab = vocab;
    }

    /** One streamed request: when it was sent, when each content chunk arrived. */
    record Stream(long sent, List<Long> chunks, int promptTokens, int completionTokens, String finish) {
        long ttft() {
            return chunks.isEmpty() ? -1 : chunks.getFirst() - sent;
        }
    }

    int[] randomPrompt(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = rnd.nextInt(Math.min(vocab, 100_000));
        return p;
    }

    /** Sends a streaming completion with a token-id prompt; completes when the stream ends (or {@code stop} is set). */
    CompletableFuture<Stream> stream(int[] prompt, int maxTokens, AtomicBoolean stop, ExecutorService pool) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model);
        var arr = body.putArray("prompt");
        for (int t : prompt) arr.add(t);
        if (maxTokens > 0) body.put("max_tokens", maxTokens);   // else up to the context length
        body.put("temperature", 0);
        body.put("stream", true);
        body.put("ignore_eos", true);
        body.putObject("stream_options").put("include_usage", true);
        HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/completions")).timeout(Duration.ofMinutes(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        return CompletableFuture.supplyAsync(() -> {
            long sent = System.nanoTime();
            List<Long> chunks = new ArrayList<>();
            int[] usage = {0, 0};
            String[] finish = {null};
            try {
                HttpResponse<java.util.stream.Stream<String>> r = http.send(req, HttpResponse.BodyHandlers.ofLines());
                if (r.statusCode() != 200) {
                    throw new IllegalStateException("HTTP " + r.statusCode() + ": " + r.body().collect(Collectors.joining("\n")));
                }
                try (var lines = r.body()) {
                    var it = lines.iterator();
                    while (it.hasNext()) {
                        String line = it.next();
                        if (!line.startsWith("data: ")) continue;
                        long now = System.nanoTime();
                        String data = line.substring(6);
                        if (data.equals("[DONE]")) break;
                        JsonNode j = JSON.readTree(data);
                        if (j.path("usage").isObject()) {
                            usage[0] = j.get("usage").get("prompt_tokens").asInt();
                            usage[1] = j.get("usage").get("completion_tokens").asInt();
                        }
                        JsonNode c = j.path("choices").path(0);
                        if (!c.isMissingNode()) {
                            if (!c.path("text").asText().isEmpty()) chunks.add(now);
                            if (!c.path("finish_reason").isNull() && !c.path("finish_reason").isMissingNode()) finish[0] = c.get("finish_reason").asText();
                        }
                        if (stop != null && stop.get()) break;   // closing the stream cancels the sequence
                    }
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            return new Stream(sent, chunks, usage[0], usage[1], finish[0]);
        }, pool);
    }

    static double percentile(List<Double> values, double q) {
        if (values.isEmpty()) return Double.NaN;
        List<Double> s = new ArrayList<>(values);
        Collections.sort(s);
        int i = (int) Math.ceil(q * s.size()) - 1;
        return s.get(Math.max(0, Math.min(s.size() - 1, i)));
    }

    static List<Double> gapsMs(Stream s) {
        List<Double> g = new ArrayList<>();
        for (int i = 1; i < s.chunks().size(); i++) g.add((s.chunks().get(i) - s.chunks().get(i - 1)) / 1e6);
        return g;
    }

    static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    /** c streams at once: aggregate decode rate while all c decode, and pooled inter-token latency. */
    ObjectNode concurrency(int c, int promptTokens, int maxTokens, int reps, ExecutorService pool) throws Exception {
        List<Double> rates = new ArrayList<>();
        List<Double> allRates = new ArrayList<>();
        List<Double> gaps = new ArrayList<>();
        List<Double> spreads = new ArrayList<>();
        for (int rep = 0; rep < reps; rep++) {
            List<CompletableFuture<Stream>> fs = new ArrayList<>();
            for (int i = 0; i < c; i++) fs.add(stream(randomPrompt(promptTokens), maxTokens, null, pool));
            List<Stream> ss = new ArrayList<>();
            for (var f : fs) ss.add(f.get(30, TimeUnit.MINUTES));
            for (Stream s : ss) {
                if (s.chunks().size() < 2) throw new IllegalStateException("a stream of " + c + " produced " + s.chunks().size() + " chunks");
            }
            // decode rate over the run: every token after a stream's first, from the earliest first token to the last token
            long from = ss.stream().mapToLong(s -> s.chunks().getFirst()).min().orElseThrow();
            long to = ss.stream().mapToLong(s -> s.chunks().getLast()).max().orElseThrow();
            long tokens = 0;
            for (Stream s : ss) tokens += s.chunks().size() - 1;
            if (to > from) rates.add(tokens / ((to - from) / 1e9));
            // and while all c streams decode at once (when the run has such a window)
            long allFrom = ss.stream().mapToLong(s -> s.chunks().getFirst()).max().orElseThrow();
            long allTo = ss.stream().mapToLong(s -> s.chunks().getLast()).min().orElseThrow();
            long inAll = 0;
            for (Stream s : ss) for (long t : s.chunks()) if (t > allFrom && t <= allTo) inAll++;
            if (allTo - allFrom > 1_000_000_000L) allRates.add(inAll / ((allTo - allFrom) / 1e9));
            spreads.add((allFrom - from) / 1e6);  // from the first stream's first token to the last stream's
            for (Stream s : ss) gaps.addAll(gapsMs(s));
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("scenario", "concurrency");
        o.put("streams", c);
        o.put("reps", reps);
        o.put("prompt_tokens", promptTokens);
        o.put("max_tokens", maxTokens);
        Collections.sort(rates);
        o.put("aggregate_decode_tok_s_median", round(percentile(rates, 0.5)));
        o.put("aggregate_decode_tok_s_min", round(percentile(rates, 0.0)));
        o.put("aggregate_decode_tok_s_max", round(percentile(rates, 1.0)));
        if (!allRates.isEmpty()) o.put("all_decoding_tok_s_median", round(percentile(allRates, 0.5)));
        Collections.sort(spreads);
        o.put("first_token_spread_ms_median", round(percentile(spreads, 0.5)));
        o.put("itl_p50_ms", round(percentile(gaps, 0.5)));
        o.put("itl_p99_ms", round(percentile(gaps, 0.99)));
        o.put("itl_samples", gaps.size());
        return o;
    }

    /** Four long streams decode while a 512-token prompt arrives every {@code everySeconds}; ITL of the four. */
    ObjectNode staggered(int longStreams, int prompts, double everySeconds, ExecutorService pool) throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        List<CompletableFuture<Stream>> longs = new ArrayList<>();
        for (int i = 0; i < longStreams; i++) longs.add(stream(randomPrompt(16), 0, stop, pool));
        // let the long streams reach steady decode
        Thread.sleep(3000);
        long t0 = System.nanoTime();
        List<CompletableFuture<Stream>> arrivals = new ArrayList<>();
        for (int i = 0; i < prompts; i++) {
            long at = t0 + (long) (i * everySeconds * 1e9);
            long wait = at - System.nanoTime();
            if (wait > 0) TimeUnit.NANOSECONDS.sleep(wait);
            arrivals.add(stream(randomPrompt(512), 8, null, pool));
        }
        List<Stream> done = new ArrayList<>();
        for (var f : arrivals) done.add(f.get(30, TimeUnit.MINUTES));
        long t1 = System.nanoTime();
        stop.set(true);
        List<Double> gaps = new ArrayList<>();
        List<Double> all = new ArrayList<>();
        for (var f : longs) {
            Stream s = f.get(5, TimeUnit.MINUTES);
            for (int i = 1; i < s.chunks().size(); i++) {
                long a = s.chunks().get(i - 1);
                long b = s.chunks().get(i);
                all.add((b - a) / 1e6);
                if (a >= t0 && b <= t1) gaps.add((b - a) / 1e6);
            }
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("scenario", "staggered");
        o.put("decoding_streams", longStreams);
        o.put("arrivals", prompts);
        o.put("arrival_every_s", everySeconds);
        o.put("arrival_prompt_tokens", 512);
        o.put("window_s", round((t1 - t0) / 1e9));
        o.put("itl_p50_ms", round(percentile(gaps, 0.5)));
        o.put("itl_p90_ms", round(percentile(gaps, 0.9)));
        o.put("itl_p99_ms", round(percentile(gaps, 0.99)));
        o.put("itl_max_ms", round(percentile(gaps, 1.0)));
        o.put("itl_p99_over_p50", round(percentile(gaps, 0.99) / percentile(gaps, 0.5)));
        o.put("itl_samples", gaps.size());
        List<Double> ttft = new ArrayList<>();
        for (Stream s : done) ttft.add(s.ttft() / 1e9);
        o.put("arrival_ttft_s_p50", round(percentile(ttft, 0.5)));
        o.put("arrival_ttft_s_max", round(percentile(ttft, 1.0)));
        return o;
    }

    /**
     * Time to first token of a lone prompt, against the one-process prefill of the same length ({@code strata bench
     * --pp N --threads 1}: one batch into an empty cache, all layers in this JVM), measured in alternation so both see
     * the same machine load; the ratio is taken per repetition.
     */
    ObjectNode ttft(int promptTokens, int reps, OneProcess ref, ExecutorService pool) throws Exception {
        List<Double> t = new ArrayList<>();
        List<Double> one = new ArrayList<>();
        List<Double> ratio = new ArrayList<>();
        for (int i = 0; i < reps; i++) {
            double p = ref.prefillSeconds(promptTokens);
            double s = stream(randomPrompt(promptTokens), 1, null, pool).get(30, TimeUnit.MINUTES).ttft() / 1e9;
            one.add(p);
            t.add(s);
            ratio.add(s / p);
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("scenario", "ttft");
        o.put("prompt_tokens", promptTokens);
        o.put("reps", reps);
        o.put("ttft_s_median", round(percentile(t, 0.5)));
        o.put("ttft_s_min", round(percentile(t, 0.0)));
        o.put("ttft_s_max", round(percentile(t, 1.0)));
        o.put("one_process_prefill_s_median", round(percentile(one, 0.5)));
        o.put("one_process_pp_tok_s_median", round(promptTokens / percentile(one, 0.5)));
        o.put("ttft_over_prefill_median", round(percentile(ratio, 0.5)));
        o.put("ttft_over_prefill_min", round(percentile(ratio, 0.0)));
        o.put("ttft_over_prefill_max", round(percentile(ratio, 1.0)));
        return o;
    }

    /** The whole model in this JVM on one thread, as {@code strata bench} runs it. */
    static final class OneProcess implements AutoCloseable {
        private final GgufFile file;
        private final CpuBackend backend = new CpuBackend(1);
        private final Stage stage;
        private final float[] logits;
        private final Random rnd = new Random(3);

        OneProcess(Path model) {
            file = GgufFile.open(model);
            ModelConfig cfg = ModelConfig.from(file);
            stage = Stage.load(file, cfg, 0, cfg.layers(), backend, 512);
            logits = new float[cfg.vocab()];
            prefillSeconds(64);   // warm-up
        }

        double prefillSeconds(int tokens) {
            int[] p = new int[tokens];
            for (int i = 0; i < tokens; i++) p[i] = rnd.nextInt(stage.config().vocab());
            try (KvCache c = stage.newCache(tokens, KvType.F16)) {
                long t = System.nanoTime();
                stage.forward(Step.ofSequence(p, 0, c, false), logits);
                return (System.nanoTime() - t) / 1e9;
            }
        }

        @Override
        public void close() {
            backend.close();
            file.close();
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) o.put(args[i], args[i + 1]);
        Path model = Path.of(o.get("--model"));
        int stages = Integer.parseInt(o.getOrDefault("--stages", "3"));
        int tokens = Integer.parseInt(o.getOrDefault("--tokens", "64"));
        int[] conc = Arrays.stream(o.getOrDefault("--concurrency", "1,4,8,16").split(",")).mapToInt(Integer::parseInt).toArray();
        double every = Double.parseDouble(o.getOrDefault("--stagger-seconds", "8"));
        int staggerPrompts = Integer.parseInt(o.getOrDefault("--stagger-prompts", "5"));
        int reps = Integer.parseInt(o.getOrDefault("--reps", "3"));
        String scenarios = o.getOrDefault("--scenarios", "ttft,concurrency,staggered");
        Path out = o.containsKey("--out") ? Path.of(o.get("--out")) : null;
        List<String> results = new CopyOnWriteArrayList<>();

        int vocab;
        EngineTextModel text;
        try (GgufFile f = GgufFile.open(model)) {
            vocab = ModelConfig.from(f).vocab();
            text = EngineTextModel.of(f);
        }
        OneProcess pp = scenarios.contains("ttft") ? new OneProcess(model) : null;
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        try {
            if (o.containsKey("--url")) {
                // a server that is already running, e.g. `strata local --model F --workers 3 --sequences 20`
                String url = o.get("--url");
                String id = o.getOrDefault("--model-id", model.getFileName().toString());
                run(new GatewayBench(url, id, vocab), "external server at " + url, stages, scenarios, conc, tokens, reps, pp, every,
                        staggerPrompts, pool, model, results);
            } else if (o.containsKey("--local")) {
                // every stage in this JVM (LocalPipeline): the gateway and scheduler without processes or gRPC
                try (GgufFile f = GgufFile.open(model);
                     LocalPipeline lp = LocalPipeline.start(f, new LocalPipeline.Options(stages, KvType.F16, 2048, 20, 20L * 2048, 512),
                             () -> new CpuBackend(1))) {
                    Scheduler sched = new Scheduler(lp, Scheduler.Config.defaults());
                    try (Gateway gw = Gateway.start(GatewayConfig.of(0, "bench"), sched, text)) {
                        run(new GatewayBench("http://127.0.0.1:" + gw.port() + "/v1", "bench", vocab), "local " + lp.stages().size()
                                + " stages in one process", stages, scenarios, conc, tokens, reps, pp, every, staggerPrompts, pool, model, results);
                    } finally {
                        sched.close();
                    }
                }
            } else {
                try (TestingServer zk = new TestingServer(true); WorkerProcesses procs = new WorkerProcesses()) {
                    List<WorkerProcesses.Handle> hs = new ArrayList<>();
                    for (int i = 0; i < stages; i++) hs.add(procs.start(zk.getConnectString(), "bench-w" + i, model.getParent(), 4L << 30, "--threads", "1",
                            "--session-ms", "30000"));   // a saturated 2-vCPU machine starves ZooKeeper heartbeats
                    int layers;
                    try (GgufFile f = GgufFile.open(model)) {
                        layers = ModelConfig.from(f).layers();
                    }
                    int[] bounds = o.containsKey("--bounds")
                            ? Arrays.stream(o.get("--bounds").split(",")).mapToInt(Integer::parseInt).toArray()
                            : PinnedPlan.even(layers, stages);
                    if (bounds.length != stages + 1) throw new IllegalArgumentException("--bounds must give " + stages + " ranges");
                    PinnedPlan.store(zk.getConnectString(), model, hs, 2048, 20, "f16", 512, bounds);
                    try (Coordinator coord = new Coordinator(new Coordinator.Config(zk.getConnectString(), "/strata", "bench", model, 2048, 20,
                            "f16", "f32", 512, stages, 0, false, 30_000))) {
                        coord.awaitReady(Duration.ofMinutes(10));
                        Scheduler sched = new Scheduler(new ClusterPipeline(coord), Scheduler.Config.defaults());
                        try (Gateway gw = Gateway.start(GatewayConfig.of(0, "bench"), sched, text)) {
                            run(new GatewayBench("http://127.0.0.1:" + gw.port() + "/v1", "bench", vocab), coord.plan().describe(),
                                    coord.plan().stages().size(), scenarios, conc, tokens, reps, pp, every, staggerPrompts, pool, model, results);
                        } finally {
                            sched.close();
                        }
                    }
                }
            }
        } finally {
            pool.shutdownNow();
            if (pp != null) pp.close();
        }
        if (out != null) Files.write(out, results);
    }

    private static void run(GatewayBench b, String plan, int stages, String scenarios, int[] conc, int tokens, int reps, OneProcess pp,
                            double every, int staggerPrompts, ExecutorService pool, Path model, List<String> results) throws Exception {
        ObjectNode head = JSON.createObjectNode();
        head.put("scenario", "setup");
        head.put("model", model.getFileName().toString());
        head.put("plan", plan);
        head.put("stages", stages);
        head.put("cpus", Runtime.getRuntime().availableProcessors());
        emit(head, results);
        // warm-up: JIT in every process
        b.stream(b.randomPrompt(64), 16, null, pool).get(10, TimeUnit.MINUTES);
        if (scenarios.contains("ttft")) emit(b.ttft(512, reps, pp, pool).set("server", b.serverView()), results);
        if (scenarios.contains("concurrency")) {
            for (int c : conc) emit(b.concurrency(c, 16, tokens, reps, pool).set("server", b.serverView()), results);
        }
        if (scenarios.contains("staggered")) emit(b.staggered(4, staggerPrompts, every, pool).set("server", b.serverView()), results);
    }

    /** The gateway's status after a scenario: per-stage compute and queueing, the scheduler's estimates. */
    ObjectNode serverView() throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url.replace("/v1", "/api/status"))).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        JsonNode st = JSON.readTree(r.body());
        ObjectNode v = JSON.createObjectNode();
        var stages = v.putArray("stages");
        for (JsonNode s : st.get("stages")) {
            stages.addObject().put("layers", s.get("first_layer").asInt() + "-" + (s.get("end_layer").asInt() - 1))
                    .set("compute_ms", s.get("step_compute_ms"));
            ((ObjectNode) stages.get(stages.size() - 1)).set("queued_ms", s.get("step_queued_ms"));
        }
        v.set("inter_token_ms", st.get("scheduler").get("inter_token_ms"));
        v.set("prefill_ms_per_token", st.get("scheduler").get("prefill_ms_per_token"));
        v.set("server_itl_p50_ms", st.get("latency").get("itl_p50_ms"));
        v.set("server_itl_p99_ms", st.get("latency").get("itl_p99_ms"));
        return v;
    }

    private static void emit(ObjectNode o, List<String> results) {
        String line = o.toString();
        results.add(line);
        System.out.println(line);
        System.out.flush();
    }
}
