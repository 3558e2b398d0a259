package io.strata.ops.cluster;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.NotFoundException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.testing.Fixtures;
import io.strata.engine.text.ChatMessage;
import io.strata.engine.text.ChatTemplate;
import io.strata.engine.text.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata local} as a user runs it (its own process: an embedded ZooKeeper, a coordinator with the gateway, three
 * worker processes), driven by a client nobody here wrote: the official OpenAI Java SDK. Greedy text must equal the
 * one-process engine's.
 */
class LocalOpenAiSdkTest {
    static final Path MODEL = Fixtures.path("small/small-Q4_0.gguf");
    static final String ID = MODEL.getFileName().toString();

    static Process local;
    static final List<String> output = new ArrayList<>();
    static OpenAIClient client;
    static Tokenizer tokenizer;
    static ChatTemplate template;

    @BeforeAll
    static void start() throws Exception {
        try (GgufFile f = GgufFile.open(MODEL)) {
            tokenizer = Tokenizer.fromMetadata(f.metadata());
            template = ChatTemplate.forModel(f.metadata(), tokenizer);
        }
        String java = ProcessHandle.current().info().command().orElseThrow();
        Path log = Files.createDirectories(Path.of("target")).resolve("strata-local-sdk-test.log");
        local = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss4m",
                "-cp", System.getProperty("java.class.path"), "io.strata.ops.Main", "local", "--model", MODEL.toString(),
                "--workers", "3", "--port", "0", "--context", "512", "--sequences", "4", "--memory", "512m")
                .redirectError(log.toFile()).start();
        CompletableFuture<String> api = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(local.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (output) {
                        output.add(line);
                    }
                    if (line.startsWith("OpenAI API: ")) api.complete(line.substring("OpenAI API: ".length()).strip());
                }
            } catch (java.io.IOException e) {
                // the process ended
            }
            api.completeExceptionally(new IllegalStateException("strata local exited before serving; see " + log));
        });
        String base = api.get(180, TimeUnit.SECONDS);
        client = OpenAIOkHttpClient.builder().baseUrl(base).apiKey("unused").maxRetries(0).timeout(Duration.ofSeconds(60)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) client.close();
        if (local != null) {
            local.destroy();   // SIGTERM: its shutdown hook stops the workers and ZooKeeper
            if (!local.waitFor(60, TimeUnit.SECONDS)) local.destroyForcibly();
        }
    }

    /** The one-process engine: all layers in one stage, greedy. */
    static String greedy(int[] prompt, int n) {
        try (GgufFile f = GgufFile.open(MODEL); CpuBackend b = new CpuBackend(1)) {
            ModelConfig cfg = ModelConfig.from(f);
            Stage s = Stage.load(f, cfg, 0, cfg.layers(), b, 64);
            float[] logits = new float[cfg.vocab()];
            int[] out = new int[n];
            try (KvCache c = s.newCache(prompt.length + n, KvType.F16)) {
                s.forward(Step.ofSequence(prompt, 0, c, false), logits);
                for (int i = 0; i < n; i++) {
                    int best = 0;
                    for (int v = 1; v < cfg.vocab(); v++) if (logits[v] > logits[best]) best = v;
                    out[i] = best;
                    if (i + 1 < n) s.forward(Step.ofSequence(new int[]{best}, prompt.length + i, c, false), logits);
                }
            }
            return tokenizer.decode(out, false);
        }
    }

    @Test
    void listsTheModel() {
        assertEquals(List.of(ID), client.models().list().data().stream().map(Model::id).toList());
    }

    @Test
    void aCompletionIsTheEnginesGreedyText() {
        String prompt = "The llama is a domesticated";
        Completion c = client.completions().create(CompletionCreateParams.builder().model(ID).prompt(prompt).maxTokens(12)
                .temperature(0.0).build());
        assertEquals(greedy(tokenizer.encode(prompt, true, true), 12), c.choices().getFirst().text());
        assertEquals(12L, c.usage().orElseThrow().completionTokens());
    }

    @Test
    void chatStreamingAndNotIsTheEnginesGreedyText() {
        List<ChatMessage> conversation = List.of(ChatMessage.system("Be brief."), ChatMessage.user("What is a llama?"));
        String want = greedy(template.promptIds(tokenizer, conversation, true), 10);
        ChatCompletionCreateParams p = ChatCompletionCreateParams.builder().model(ID).addSystemMessage("Be brief.")
                .addUserMessage("What is a llama?").maxCompletionTokens(10).temperature(0.0).build();
        ChatCompletion c = client.chat().completions().create(p);
        assertEquals(want, c.choices().getFirst().message().content().orElseThrow());
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(p)) {
            String streamed = s.stream().flatMap(ch -> ch.choices().stream()).map(ch -> ch.delta().content().orElse(""))
                    .collect(Collectors.joining());
            assertEquals(want, streamed);
        }
    }

    @Test
    void anUnknownModelIsTheSdksNotFound() {
        NotFoundException e = assertThrows(NotFoundException.class, () -> client.completions().create(
                CompletionCreateParams.builder().model("gpt-4o").prompt("hi").maxTokens(1).build()));
        assertEquals(404, e.statusCode());
        assertEquals("model_not_found", e.code().orElseThrow());
        synchronized (output) {
            assertTrue(output.stream().anyMatch(l -> l.startsWith("dashboard:")), String.join("\n", output));
        }
    }
}
