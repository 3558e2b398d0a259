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
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole serving path with a client nobody here wrote: the official OpenAI Java SDK against the gateway, over the
 * scheduler, over the cluster (an embedded ZooKeeper, a coordinator, three worker processes on loopback gRPC). Greedy
 * text must equal the one-process engine's.
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
}
