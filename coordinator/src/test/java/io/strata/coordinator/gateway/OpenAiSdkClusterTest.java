package io.strata.coordinator.gateway;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import io.strata.coordinator.Coordinator;
import io.strata.coordinator.scheduler.ClusterPipeline;
import io.strata.coordinator.scheduler.EngineGreedy;
import io.strata.coordinator.scheduler.LocalPipeline;
import io.strata.coordinator.scheduler.PipelineExecutor;
import io.strata.coordinator.scheduler.Sampling;
import io.strata.coordinator.scheduler.Scheduler;
import io.strata.engine.backend.KvType;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.testing.Fixtures;
import io.strata.engine.text.ChatMessage;
import io.strata.engine.text.Tokenizer;
import io.strata.worker.testing.WorkerProcesses;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole serving path with a client nobody here wrote: the official OpenAI Java SDK against the gateway, over the
 * scheduler, over the cluster (an embedded ZooKeeper, a coordinator, three worker processes on loopback gRPC). Greedy
 * text, and seeded sampling with frequency and presence penalties, must equal the one-process engine's.
 */
class OpenAiSdkClusterTest {
    static final Path MODEL = Fixtures.path("small/small-Q4_0.gguf");
    static final String ID = "small-q4";

    static TestingServer zk;
    static WorkerProcesses workers;
    static Coordinator coordinator;
    static Scheduler scheduler;
    static Gateway gateway;
    static OpenAIClient client;
    static GgufFile file;
    static Tokenizer tokenizer;
    static EngineTextModel text;

    @BeforeAll
    static void start() throws Exception {
        file = GgufFile.open(MODEL);
        text = EngineTextModel.of(file);
        tokenizer = text.tokenizer();
        zk = new TestingServer(true);
        workers = new WorkerProcesses();
        List<WorkerProcesses.Handle> hs = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) hs.add(workers.start(zk.getConnectString(), "w" + i, MODEL.getParent(), 256L << 20));
        PinnedPlan.store(zk.getConnectString(), MODEL, hs, 256, 4, "f16", 64, 0, 1, 3, 4);   // three stages: 1 + 2 + 1 layers
        coordinator = new Coordinator(new Coordinator.Config(zk.getConnectString(), "/strata", "c0", MODEL, 256, 4, "f16", "f32", 64,
                3, 0, false, 4000));
        coordinator.awaitReady(Duration.ofSeconds(90));
        scheduler = new Scheduler(new ClusterPipeline(coordinator), Scheduler.Config.defaults());
        gateway = Gateway.start(GatewayConfig.of(0, ID), scheduler, text);
        client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + gateway.port() + "/v1").apiKey("not-checked")
                .maxRetries(0).timeout(Duration.ofSeconds(60)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) client.close();
        if (gateway != null) gateway.close();
        if (scheduler != null) scheduler.close();
        if (coordinator != null) coordinator.close();
        if (workers != null) workers.close();
        if (zk != null) zk.close();
        if (file != null) file.close();
    }

    static String greedy(String prompt, int n) {
        int[] ids = tokenizer.encode(prompt, true, true);
        return tokenizer.decode(EngineGreedy.generate(file, ids, n, KvType.F16), false);
    }

    @Test
    void theModelListNamesTheServedModel() {
        List<Model> models = client.models().list().data();
        assertEquals(List.of(ID), models.stream().map(Model::id).toList());
        assertEquals(ID, client.models().retrieve(ID).id());
    }

    @Test
    void aCompletionIsTheEnginesGreedyText() {
        String prompt = "The llama is a domesticated";
        Completion c = client.completions().create(CompletionCreateParams.builder().model(ID).prompt(prompt).maxTokens(12)
                .temperature(0.0).build());
        assertEquals(greedy(prompt, 12), c.choices().getFirst().text());
        assertEquals(Completion.class, c.getClass());
        assertEquals("length", c.choices().getFirst().finishReason().asString());
        assertEquals(12L, c.usage().orElseThrow().completionTokens());
        assertEquals(tokenizer.encode(prompt, true, true).length, c.usage().orElseThrow().promptTokens());
        assertEquals(3, coordinator.plan().stages().size(), "served by three stages: " + coordinator.plan().describe());
    }

    @Test
    void workersSayTheirProcessorsAndThePipelineKeepsAsManyBatchesInFlightAsCanCompute() {
        // The three workers share this machine: as many micro-batches in flight as their threads fit in its processors.
        int cpus = Runtime.getRuntime().availableProcessors();
        int threads = 0;
        for (var s : coordinator.plan().stages()) {
            var w = coordinator.workers().get(s.workerId());
            assertEquals(cpus, w.cpus(), "worker " + w.id() + " reports the processors it may use");
            threads = Math.max(1, w.threads());
        }
        assertEquals(Math.min(3, Math.max(1, cpus / threads)), new ClusterPipeline(coordinator).depth());
    }

    @Test
    void aStreamedCompletionIsTheSameText() {
        String prompt = "Numbers 1234567 and";
        try (StreamResponse<Completion> s = client.completions().createStreaming(CompletionCreateParams.builder().model(ID)
                .prompt(prompt).maxTokens(10).temperature(0.0).build())) {
            String text = s.stream().map(c -> c.choices().isEmpty() ? "" : c.choices().getFirst().text()).collect(Collectors.joining());
            assertEquals(greedy(prompt, 10), text);
        }
    }

    static final List<ChatMessage> CONVERSATION = List.of(ChatMessage.system("You are a helpful assistant."),
            ChatMessage.user("Why is the sky blue?"));

    static ChatCompletionCreateParams chat(int maxTokens) {
        return ChatCompletionCreateParams.builder().model(ID).addSystemMessage("You are a helpful assistant.")
                .addUserMessage("Why is the sky blue?").maxCompletionTokens(maxTokens).temperature(0.0).build();
    }

    static String greedyChat(int n) {
        int[] ids = text.chatPrompt(CONVERSATION);
        return tokenizer.decode(EngineGreedy.generate(file, ids, n, KvType.F16), false);
    }

    @Test
    void aChatCompletionIsTheEnginesGreedyText() {
        ChatCompletion c = client.chat().completions().create(chat(10));
        assertEquals(greedyChat(10), c.choices().getFirst().message().content().orElseThrow());
        assertEquals(ChatCompletion.Choice.FinishReason.LENGTH, c.choices().getFirst().finishReason());
        assertEquals(text.chatPrompt(CONVERSATION).length, c.usage().orElseThrow().promptTokens());
        assertEquals(10L, c.usage().orElseThrow().completionTokens());
    }

    @Test
    void aStreamedChatCompletionIsTheSameText() {
        StringBuilder sb = new StringBuilder();
        long[] usage = {-1};
        ChatCompletionCreateParams p = chat(10).toBuilder()
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(p)) {
            s.stream().forEach(chunk -> {
                for (ChatCompletionChunk.Choice ch : chunk.choices()) ch.delta().content().ifPresent(sb::append);
                chunk.usage().ifPresent(u -> usage[0] = u.completionTokens());
            });
        }
        assertEquals(greedyChat(10), sb.toString());
        assertEquals(10, usage[0]);
    }

    @Test
    void errorsArriveAsTheSdksExceptions() {
        NotFoundException nf = assertThrows(NotFoundException.class, () -> client.completions().create(
                CompletionCreateParams.builder().model("gpt-4o").prompt("hi").maxTokens(1).build()));
        assertEquals(404, nf.statusCode());
        assertTrue(nf.getMessage().contains("gpt-4o"), nf.getMessage());
        BadRequestException br = assertThrows(BadRequestException.class, () -> client.completions().create(
                CompletionCreateParams.builder().model(ID).prompt("hi").maxTokens(1).temperature(7.0).build()));
        assertEquals(400, br.statusCode());
        assertEquals("temperature", br.param().orElseThrow());
        BadRequestException ctx = assertThrows(BadRequestException.class, () -> client.completions().create(
                CompletionCreateParams.builder().model(ID).prompt("hi").maxTokens(1000).temperature(0.0).build()));
        assertEquals("context_length_exceeded", ctx.code().orElseThrow());
    }

    /** The one-process engine's tokens for {@code sampling} (the parameters {@link LocalPipeline} gives its sampler). */
    static int[] engine(int[] prompt, int n, Sampling sampling) {
        return EngineGreedy.sample(file, prompt, n, KvType.F16, LocalPipeline.params(sampling, 256));
    }

    /** Token ids through the scheduler alone, for exact comparison. */
    static final class Ids implements Scheduler.Listener {
        final List<Integer> tokens = new ArrayList<>();
        final CompletableFuture<Scheduler.FinishReason> done = new CompletableFuture<>();

        @Override
        public synchronized boolean onToken(int token, PipelineExecutor.SeqOutput output) {
            tokens.add(token);
            return true;
        }

        @Override
        public void onFinish(Scheduler.FinishReason reason, int promptTokens, int completionTokens) {
            done.complete(reason);
        }

        @Override
        public void onError(String message) {
            done.completeExceptionally(new IllegalStateException(message));
        }

        int[] ids() throws Exception {
            done.get(120, TimeUnit.SECONDS);
            synchronized (this) {
                return tokens.stream().mapToInt(Integer::intValue).toArray();
            }
        }
    }

    @Test
    void penalizedSeededSamplingOverTheWorkersIsTheOneProcessEnginesTokens() throws Exception {
        Sampling hot = new Sampling(0.9f, 0.95f, 0, 1234, 0.7f, 0.4f, false, 0);
        Sampling plain = new Sampling(0.9f, 0.95f, 0, 1234, 0f, 0f, false, 0);
        Sampling greedyPenalized = new Sampling(0f, 1f, 0, 0, 1.5f, 0.5f, false, 0);
        int[] pa = tokenizer.encode("The llama is a domesticated", true, true);
        int[] pb = tokenizer.encode("Numbers 1234567 and", true, true);
        int n = 24;
        int[] wantHot = engine(pa, n, hot);
        int[] wantGreedy = engine(pb, n, greedyPenalized);
        assertFalse(Arrays.equals(wantHot, engine(pa, n, plain)), "the penalties change the reference's tokens");
        assertFalse(Arrays.equals(wantGreedy, EngineGreedy.generate(file, pb, n, KvType.F16)), "greedy with penalties is not greedy");
        // three sequences batched together through the three worker processes
        Ids a = new Ids();
        Ids b = new Ids();
        Ids a2 = new Ids();
        scheduler.submit(new Scheduler.Request("", pa, n, hot, new int[0]), a);
        scheduler.submit(new Scheduler.Request("", pb, n, greedyPenalized, new int[0]), b);
        scheduler.submit(new Scheduler.Request("", pa, n, hot, new int[0]), a2);
        assertArrayEquals(wantHot, a.ids(), "seeded sampling with penalties over three stages");
        assertArrayEquals(wantGreedy, b.ids(), "greedy with penalties over three stages");
        assertArrayEquals(wantHot, a2.ids(), "the same seed, batched beside itself, gives the same tokens");
    }

    @Test
    void theSdksPenaltiesReachTheWorkers() {
        String prompt = "The llama is a domesticated";
        int[] ids = tokenizer.encode(prompt, true, true);
        Completion c = client.completions().create(CompletionCreateParams.builder().model(ID).prompt(prompt).maxTokens(16)
                .temperature(0.8).topP(0.9).seed(42).frequencyPenalty(0.6).presencePenalty(0.3).build());
        Sampling s = new Sampling(0.8f, 0.9f, 0, 42, 0.6f, 0.3f, false, 0);
        assertEquals(tokenizer.decode(engine(ids, 16, s), false), c.choices().getFirst().text());
        assertEquals(16L, c.usage().orElseThrow().completionTokens());

        StringBuilder sb = new StringBuilder();
        ChatCompletionCreateParams p = chat(12).toBuilder().temperature(0.0).frequencyPenalty(1.2).presencePenalty(0.4).build();
        try (StreamResponse<ChatCompletionChunk> st = client.chat().completions().createStreaming(p)) {
            st.stream().forEach(chunk -> {
                for (ChatCompletionChunk.Choice ch : chunk.choices()) ch.delta().content().ifPresent(sb::append);
            });
        }
        int[] chat = text.chatPrompt(CONVERSATION);
        String want = tokenizer.decode(engine(chat, 12, new Sampling(0f, 1f, 0, 0, 1.2f, 0.4f, false, 0)), false);
        assertEquals(want, sb.toString());
    }

    @Test
    void theStatusReportAndTheDashboardShowEachWorkersBackendAndMemory() throws Exception {
        client.completions().create(CompletionCreateParams.builder().model(ID).prompt("Hello").maxTokens(3).temperature(0.0).build());
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        java.net.URI status = java.net.URI.create("http://127.0.0.1:" + gateway.port() + "/api/status");
        com.fasterxml.jackson.databind.JsonNode st = null;
        long deadline = System.nanoTime() + 20_000_000_000L;
        boolean linux = java.nio.file.Files.isReadable(Path.of("/proc/self/smaps"));  // where workers can read their RSS
        while (System.nanoTime() < deadline) {  // the workers' memory arrives with a Status call per worker
            st = new com.fasterxml.jackson.databind.ObjectMapper().readTree(http.send(java.net.http.HttpRequest.newBuilder(status).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body());
            boolean all = true;
            for (com.fasterxml.jackson.databind.JsonNode stage : st.get("stages")) all &= !linux || !stage.get("resident_bytes").isNull();
            if (all) break;
            Thread.onSpinWait();
        }
        assertEquals(3, st.get("stages").size(), st.toString());
        for (int i = 0; i < 3; i++) {
            com.fasterxml.jackson.databind.JsonNode stage = st.get("stages").get(i);
            String where = "stage " + i + ": " + stage;
            assertEquals("w" + i, stage.get("worker").asText(), where);
            assertEquals("cpu", stage.get("backend").asText(), where);
            assertEquals(256L << 20, stage.get("memory_usable_bytes").asLong(), "the worker's --memory: " + where);
            assertEquals(stage.get("weight_bytes").asLong() + stage.get("kv_bytes").asLong(), stage.get("memory_used_bytes").asLong(), where);
            assertTrue(stage.get("kv_bytes").asLong() > 0, where);
            if (linux) {
                // a worker JVM: tens of MiB at least, and less than the machine has
                long rss = stage.get("resident_bytes").asLong();
                long machine = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                        .getOperatingSystemMXBean()).getTotalMemorySize();
                assertTrue(rss > 32L << 20 && rss < machine, where);
                assertTrue(stage.get("model_resident_bytes").asLong() > 0, "its shard is paged in: " + where);
            }
            assertTrue(stage.get("bandwidth_bytes_per_second").asDouble() > 1e8, where);
            assertTrue(stage.get("layer_ms").asDouble() > 0, where);
            assertTrue(stage.get("step_compute_ms").asDouble() > 0, where);
            assertTrue(stage.get("ready").asBoolean(), where);
        }
        String metrics = http.send(java.net.http.HttpRequest.newBuilder(status.resolve("/metrics")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        if (linux) assertTrue(metrics.contains("strata_stage_resident_bytes{stage=\"2\",worker=\"w2\",layers=\"3-3\"} "), metrics);
        assertTrue(metrics.contains("strata_stage_usable_bytes{stage=\"0\",worker=\"w0\",layers=\"0-0\"} " + (256L << 20)), metrics);

        String chromium = DashboardBrowserTest.findChromium();
        if (chromium == null || !linux) return;  // the JSON above is what the page shows; DashboardBrowserTest reports the skip
        Path profile = java.nio.file.Files.createTempDirectory("strata-chromium");
        try {
            String dom = DashboardBrowserTest.chromium(chromium, status.resolve("/"), profile, "--dump-dom");
            assertTrue(dom.contains("data-loaded=\"true\""), dom);
            for (int i = 0; i < 3; i++) {
                // worker, backend, state, weights, KV, used / usable (256 MiB), RSS, bandwidth, time per layer, step compute
                java.util.regex.Pattern row = java.util.regex.Pattern.compile("<td>w" + i + "</td><td>cpu</td><td[^>]*>ready</td>"
                        + "<td>[0-9.]+ [KMG]iB</td><td>[0-9.]+ [KMG]iB</td><td[^>]*>[0-9.]+ [KMG]iB / 256\\.0 MiB</td>"
                        + "<td[^>]*>[0-9.]+ [MG]iB</td><td>[0-9.]+ GB/s</td><td>[0-9.]+ ms</td><td>[0-9.]+ ms</td>");
                assertTrue(row.matcher(dom).find(), "stage " + i + "'s row:\n" + dom);
            }
        } finally {
            DashboardBrowserTest.delete(profile);
        }
    }
}
