package io.strata.coordinator.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.coordinator.scheduler.EngineGreedy;
import io.strata.coordinator.scheduler.Scheduler;
import io.strata.engine.backend.KvType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gateway over HTTP with the JDK's client and raw sockets: OpenAI JSON and SSE shapes, greedy text equal to the
 * engine's, stop strings, usage, logprobs, every error status with its field, authentication, the queue bound,
 * readiness, and a client that disconnects mid-stream.
 */
class GatewayTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static TestServer server;
    static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.start();
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    record Reply(int status, JsonNode json, String body, HttpResponse<String> raw) {}

    static Reply post(TestServer s, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(s.uri(path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        JsonNode j = null;
        if (r.headers().firstValue("content-type").orElse("").startsWith("application/json")) j = JSON.readTree(r.body());
        return new Reply(r.statusCode(), j, r.body(), r);
    }

    static Reply get(TestServer s, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(s.uri(path)).timeout(Duration.ofSeconds(30)).GET();
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        JsonNode j = null;
        if (r.headers().firstValue("content-type").orElse("").startsWith("application/json")) j = JSON.readTree(r.body());
        return new Reply(r.statusCode(), j, r.body(), r);
    }

    /** The SSE events of a stream body: each {@code data:} payload, in order. */
    static List<String> events(String body) {
        List<String> out = new ArrayList<>();
        for (String block : body.split("\n\n")) {
            if (block.isBlank()) continue;
            assertTrue(block.startsWith("data: "), "an SSE event: " + block);
            out.add(block.substring(6));
        }
        return out;
    }

    static int[] ids(int... ids) {
        return ids;
    }

    static String idsJson(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]"));
    }

    static final int[] PROMPT = {312, 292, 220, 268, 269, 64, 288, 82, 256, 220, 67, 78};

    String greedyText(int[] prompt, int n) {
        return server.tokenizer.decode(EngineGreedy.generate(server.file, prompt, n, KvType.F32), false);
    }

    @Test
    void completionFromTokenIdsIsTheEnginesGreedyText() throws Exception {
        Reply r = post(server, "/v1/completions", """
                {"model":"small-q4","prompt":%s,"max_tokens":10,"temperature":0,"some_future_field":{"x":1}}""".formatted(idsJson(PROMPT)));
        assertEquals(200, r.status(), r.body());
        JsonNode j = r.json();
        assertEquals("text_completion", j.get("object").asText());
        assertTrue(j.get("id").asText().startsWith("cmpl-"));
        assertEquals(TestServer.MODEL, j.get("model").asText());
        JsonNode c = j.get("choices").get(0);
        assertEquals(greedyText(PROMPT, 10), c.get("text").asText());
        assertEquals("length", c.get("finish_reason").asText());
        assertTrue(c.get("logprobs").isNull());
        assertEquals(PROMPT.length, j.get("usage").get("prompt_tokens").asInt(), "token ids are taken as given, no BOS added");
        assertEquals(10, j.get("usage").get("completion_tokens").asInt());
        assertEquals(PROMPT.length + 10, j.get("usage").get("total_tokens").asInt());
    }

    @Test
    void completionFromTextAddsBosAndTokenizesLikeTheModel() throws Exception {
        String text = "The llama is a domesticated";
        int[] prompt = server.tokenizer.encode(text, true, true);
        assertEquals(server.tokenizer.bos(), prompt[0]);
        Reply r = post(server, "/v1/completions", """
                {"model":"small-q4","prompt":"%s","max_tokens":6,"temperature":0}""".formatted(text));
        assertEquals(200, r.status(), r.body());
        assertEquals(prompt.length, r.json().get("usage").get("prompt_tokens").asInt());
        assertEquals(greedyText(prompt, 6), r.json().get("choices").get(0).get("text").asText());
    }

    @Test
    void streamingSendsChunksThenUsageThenDone() throws Exception {
        Reply r = post(server, "/v1/completions", """
                {"model":"small-q4","prompt":%s,"max_tokens":9,"temperature":0,"stream":true,
                 "stream_options":{"include_usage":true}}""".formatted(idsJson(PROMPT)));
        assertEquals(200, r.status(), r.body());
        assertTrue(r.raw().headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
        List<String> ev = events(r.body());
        assertEquals("[DONE]", ev.getLast());
        JsonNode usage = JSON.readTree(ev.get(ev.size() - 2));
        assertEquals(0, usage.get("choices").size());
        assertEquals(9, usage.get("usage").get("completion_tokens").asInt());
        assertEquals(PROMPT.length, usage.get("usage").get("prompt_tokens").asInt());
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (String e : ev.subList(0, ev.size() - 2)) {
            JsonNode chunk = JSON.readTree(e);
            assertEquals("text_completion", chunk.get("object").asText());
            assertTrue(chunk.has("usage") && chunk.get("usage").isNull(), "usage: null in every other chunk");
            JsonNode c = chunk.get("choices").get(0);
            text.append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) finish = c.get("finish_reason").asText();
        }
        assertEquals(greedyText(PROMPT, 9), text.toString());
        assertEquals("length", finish);
    }

    @Test
    void aStopStringEndsTheTextBeforeItStreamingOrNot() throws Exception {
        String full = greedyText(PROMPT, 16);
        String stop = full.substring(5, 8);
        String expected = full.substring(0, full.indexOf(stop));
        Reply r = post(server, "/v1/completions", """
                {"model":"small-q4","prompt":%s,"max_tokens":16,"temperature":0,"stop":["zzzz",%s]}"""
                .formatted(idsJson(PROMPT), JSON.writeValueAsString(stop)));
        assertEquals(200, r.status(), r.body());
        assertEquals(expected, r.json().get("choices").get(0).get("text").asText());
        assertEquals("stop", r.json().get("choices").get(0).get("finish_reason").asText());
        assertTrue(r.json().get("usage").get("completion_tokens").asInt() < 16);

        Reply s = post(server, "/v1/completions", """
                {"model":"small-q4","prompt":%s,"max_tokens":16,"temperature":0,"stream":true,"stop":%s}"""
                .formatted(idsJson(PROMPT), JSON.writeValueAsString(stop)));
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (String e : events(s.body())) {
            if (e.equals("[DONE]")) continue;
            JsonNode c = JSON.readTree(e).get("choices").get(0);
            text.append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) finish = c.get("finish_reason").asText();
        }
        assertEquals(expected, text.toString(), "no part of the stop string leaks into the stream");
        assertEquals("stop", finish);
    }

    @Test
    void aSeededSampledCompletionRepeatsAndDefaultsSample() throws Exception {
        String body = "{\"model\":\"small-q4\",\"prompt\":%s,\"max_tokens\":12,\"temperature\":0.8,\"top_p\":0.9,\"seed\":42,\"frequency_penalty\":0.5}"
                .formatted(idsJson(PROMPT));
        Reply a = post(server, "/v1/completions", body);
        Reply b = post(server, "/v1/completions", body);
        assertEquals(200, a.status(), a.body());
        assertEquals(a.json().get("choices").get(0).get("text").asText(), b.json().get("choices").get(0).get("text").asText());
        Reply defaults = post(server, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":\"Hello\",\"max_tokens\":4}");
        assertEquals(200, defaults.status(), "OpenAI's default temperature 1 samples: " + defaults.body());
    }

    @Test
    void completionLogprobsListEveryToken() throws Exception {
        Reply r = post(server, "/v1/completions", """
                {"model":"small-q4","prompt":%s,"max_tokens":5,"temperature":0,"logprobs":2}""".formatted(idsJson(PROMPT)));
        assertEquals(200, r.status(), r.body());
        JsonNode lp = r.json().get("choices").get(0).get("logprobs");
        assertEquals(5, lp.get("tokens").size());
        assertEquals(5, lp.get("token_logprobs").size());
        assertEquals(5, lp.get("text_offset").size());
        for (int i = 0; i < 5; i++) {
            JsonNode top = lp.get("top_logprobs").get(i);
            assertEquals(2, top.size());
            double best = Math.max(top.elements().next().asDouble(), 0 - 1e9);
            assertTrue(lp.get("token_logprobs").get(i).asDouble() <= 0);
            assertTrue(best <= 0);
        }
        assertEquals(r.json().get("choices").get(0).get("text").asText(),
                String.join("", (Iterable<String>) () -> lp.get("tokens").valueStream().map(JsonNode::asText).iterator()));
    }

    static final String CHAT = """
            {"model":"small-q4","temperature":0,"max_completion_tokens":8,
             "messages":[{"role":"system","content":"You are terse."},{"role":"user","content":[{"type":"text","text":"Hello world!"}]}]%s}""";

    int[] chatIds() {
        return server.text.chatPrompt(List.of(io.strata.engine.text.ChatMessage.system("You are terse."),
                io.strata.engine.text.ChatMessage.user("Hello world!")));
    }

    @Test
    void chatCompletionRendersTheTemplateAndIsTheEnginesGreedyText() throws Exception {
        Reply r = post(server, "/v1/chat/completions", CHAT.formatted(""));
        assertEquals(200, r.status(), r.body());
        JsonNode j = r.json();
        assertEquals("chat.completion", j.get("object").asText());
        assertTrue(j.get("id").asText().startsWith("chatcmpl-"));
        JsonNode msg = j.get("choices").get(0).get("message");
        assertEquals("assistant", msg.get("role").asText());
        assertEquals(greedyText(chatIds(), 8), msg.get("content").asText());
        assertEquals(chatIds().length, j.get("usage").get("prompt_tokens").asInt());
        assertEquals("length", j.get("choices").get(0).get("finish_reason").asText());
    }

    @Test
    void chatStreamingStartsWithTheRoleAndEndsWithFinishAndDone() throws Exception {
        Reply r = post(server, "/v1/chat/completions", CHAT.formatted(",\"stream\":true,\"logprobs\":true,\"top_logprobs\":2"));
        assertEquals(200, r.status(), r.body());
        List<String> ev = events(r.body());
        assertEquals("[DONE]", ev.getLast());
        JsonNode first = JSON.readTree(ev.getFirst());
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertEquals("assistant", first.get("choices").get(0).get("delta").get("role").asText());
        StringBuilder text = new StringBuilder();
        int logprobs = 0;
        for (String e : ev.subList(1, ev.size() - 1)) {
            JsonNode c = JSON.readTree(e).get("choices").get(0);
            if (c.get("delta").has("content")) text.append(c.get("delta").get("content").asText());
            if (c.get("logprobs").isObject()) {
                for (JsonNode t : c.get("logprobs").get("content")) {
                    logprobs++;
                    assertEquals(2, t.get("top_logprobs").size());
                    assertTrue(t.get("logprob").asDouble() <= 0);
                    assertTrue(t.get("bytes").isArray());
                }
            }
        }
        JsonNode last = JSON.readTree(ev.get(ev.size() - 2)).get("choices").get(0);
        assertEquals("length", last.get("finish_reason").asText());
        assertEquals(greedyText(chatIds(), 8), text.toString());
        assertEquals(8, logprobs, "one logprob entry per generated token");
    }

    @Test
    void badRequestsAreOpenAiErrorsNamingTheField() throws Exception {
        Reply malformed = post(server, "/v1/completions", "{\"model\": \"small-q4\", \"prompt\": ");
        assertEquals(400, malformed.status());
        assertEquals("invalid_request_error", malformed.json().get("error").get("type").asText());
        assertTrue(malformed.json().get("error").get("message").asText().contains("parse the JSON"));

        Reply temp = post(server, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":\"hi\",\"temperature\":\"hot\"}");
        assertEquals(400, temp.status());
        assertEquals("temperature", temp.json().get("error").get("param").asText());

        Reply range = post(server, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":\"hi\",\"top_p\":1.5}");
        assertEquals(400, range.status());
        assertEquals("top_p", range.json().get("error").get("param").asText());

        Reply zero = post(server, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":\"hi\",\"max_tokens\":0}");
        assertEquals(400, zero.status());
        assertEquals("max_tokens", zero.json().get("error").get("param").asText());

        Reply noPrompt = post(server, "/v1/completions", "{\"model\":\"small-q4\"}");
        assertEquals(400, noPrompt.status());
        assertEquals("prompt", noPrompt.json().get("error").get("param").asText());

        Reply role = post(server, "/v1/chat/completions", "{\"model\":\"small-q4\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}");
        assertEquals(400, role.status());
        assertEquals("messages[0].role", role.json().get("error").get("param").asText());

        Reply model = post(server, "/v1/completions", "{\"model\":\"gpt-5\",\"prompt\":\"hi\"}");
        assertEquals(404, model.status());
        assertEquals("model_not_found", model.json().get("error").get("code").asText());
        assertTrue(model.json().get("error").get("message").asText().contains("gpt-5"));

        int[] longPrompt = new int[200];
        Arrays.fill(longPrompt, 65);
        Reply ctx = post(server, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":%s,\"max_tokens\":100}".formatted(idsJson(longPrompt)));
        assertEquals(400, ctx.status());
        JsonNode err = ctx.json().get("error");
        assertEquals("context_length_exceeded", err.get("code").asText());
        assertTrue(err.get("message").asText().contains("256") && err.get("message").asText().contains("300")
                && err.get("message").asText().contains("200") && err.get("message").asText().contains("100"), err.toString());

        Reply vocab = post(server, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":[1,2,99999]}");
        assertEquals(400, vocab.status());
        assertEquals("prompt", vocab.json().get("error").get("param").asText());

        Reply path = get(server, "/v1/nothing");
        assertEquals(404, path.status());
        Reply method = get(server, "/v1/completions");
        assertEquals(405, method.status());
    }

    @Test
    void aBodyOverTheLimitIs413() throws Exception {
        try (TestServer small = new TestServer(GatewayConfig.of(0, TestServer.MODEL).withMaxBodyBytes(4096), Scheduler.Config.defaults(), 1)) {
            String big = "{\"model\":\"small-q4\",\"prompt\":\"" + "a".repeat(5000) + "\"}";
            Reply r = post(small, "/v1/completions", big);
            assertEquals(413, r.status());
            assertEquals("request_too_large", r.json().get("error").get("code").asText());
            assertTrue(r.json().get("error").get("message").asText().contains("4096"));
        }
    }

    @Test
    void apiKeysGuardTheApiButNotTheProbes() throws Exception {
        try (TestServer keyed = new TestServer(GatewayConfig.of(0, TestServer.MODEL).withApiKeys(Set.of("sk-one", "sk-two")),
                Scheduler.Config.defaults(), 1)) {
            Reply none = get(keyed, "/v1/models");
            assertEquals(401, none.status());
            assertEquals("invalid_api_key", none.json().get("error").get("code").asText());
            assertEquals(401, get(keyed, "/v1/models", "Authorization", "Bearer sk-three").status());
            Reply ok = get(keyed, "/v1/models", "Authorization", "Bearer sk-two");
            assertEquals(200, ok.status());
            assertEquals(TestServer.MODEL, ok.json().get("data").get(0).get("id").asText());
            assertEquals(401, post(keyed, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":\"hi\",\"max_tokens\":1,\"temperature\":0}").status());
            Reply withKey = post(keyed, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":\"hi\",\"max_tokens\":1,\"temperature\":0}",
                    "Authorization", "Bearer sk-one");
            assertEquals(200, withKey.status(), withKey.body());
            assertEquals(200, get(keyed, "/health").status());
        }
    }

    @Test
    void aFullQueueIs429WithRetryAfter() throws Exception {
        try (TestServer busy = new TestServer(GatewayConfig.of(0, TestServer.MODEL), new Scheduler.Config(256, 1, 1), 1);
             Socket holder = new Socket("127.0.0.1", busy.gateway.port())) {
            // one stream holds the only running slot, a second request waits in the queue (bound 1), a third is refused
            streamRequest(holder, "{\"model\":\"small-q4\",\"prompt\":[312,65],\"max_tokens\":60,\"temperature\":0,\"stream\":true}");
            BufferedReader in = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
            awaitDataLine(in);
            var waiting = http.sendAsync(HttpRequest.newBuilder(busy.uri("/v1/completions")).timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"small-q4\",\"prompt\":[312,66],\"max_tokens\":2,\"temperature\":0}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (busy.scheduler.requests.sum() < 2) {
                assertTrue(System.nanoTime() < deadline, "the second request reached the queue");
                Thread.sleep(2);
            }
            Reply r = post(busy, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":\"hi\",\"max_tokens\":1,\"temperature\":0}");
            assertEquals(429, r.status(), r.body());
            assertEquals("rate_limit_exceeded", r.json().get("error").get("code").asText());
            long retry = Long.parseLong(r.raw().headers().firstValue("retry-after").orElseThrow());
            assertTrue(retry >= 1);
            assertEquals(200, waiting.get(60, TimeUnit.SECONDS).statusCode(), "the queued request is served once the slot frees");
        }
    }

    @Test
    void noReadyPipelineIs503AndReadyReportsIt() throws Exception {
        try (TestServer s = new TestServer(GatewayConfig.of(0, TestServer.MODEL), Scheduler.Config.defaults(), 2)) {
            assertEquals(200, get(s, "/ready").status());
            s.pipeline.ready = false;
            Reply ready = get(s, "/ready");
            assertEquals(503, ready.status());
            assertFalse(ready.json().get("stages").get(1).get("ready").asBoolean());
            Reply r = post(s, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":\"hi\",\"max_tokens\":1,\"temperature\":0}");
            assertEquals(503, r.status());
            assertEquals("service_unavailable", r.json().get("error").get("code").asText());
            assertTrue(r.json().get("error").get("message").asText().contains("stage 1"), r.body());
            assertEquals(200, get(s, "/health").status(), "alive even when not ready");
        }
    }

    @Test
    void aClientThatDisconnectsMidStreamCancelsItsSequenceAndFreesItsCache() throws Exception {
        long cancelledBefore = server.scheduler.cancelled.sum();
        try (Socket sock = new Socket("127.0.0.1", server.gateway.port())) {
            streamRequest(sock, "{\"model\":\"small-q4\",\"prompt\":[312,65,66],\"max_tokens\":230,\"temperature\":0,\"stream\":true}");
            BufferedReader in = new BufferedReader(new InputStreamReader(sock.getInputStream(), StandardCharsets.UTF_8));
            awaitDataLine(in);
            assertTrue(server.kvBytes() > 0, "the sequence holds KV cache");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (server.scheduler.cancelled.sum() == cancelledBefore || server.kvBytes() != 0) {
            assertTrue(System.nanoTime() < deadline, "cancelled and freed within 20 s");
            Thread.sleep(5);
        }
        assertTrue(server.scheduler.generatedTokens.sum() > 0);
    }

    @Test
    void probesStatusAndMetrics() throws Exception {
        post(server, "/v1/completions", "{\"model\":\"small-q4\",\"prompt\":[312,70],\"max_tokens\":3,\"temperature\":0}");
        assertEquals("ok", get(server, "/health").json().get("status").asText());
        assertEquals("ready", get(server, "/ready").json().get("status").asText());
        JsonNode st = get(server, "/api/status").json();
        assertEquals(TestServer.MODEL, st.get("model").asText());
        assertEquals(2, st.get("stages").size());
        assertEquals(0, st.get("stages").get(0).get("first_layer").asInt());
        assertEquals(2, st.get("stages").get(0).get("end_layer").asInt());
        assertEquals(4, st.get("stages").get(1).get("end_layer").asInt());
        assertEquals("cpu", st.get("stages").get(1).get("backend").asText());
        assertTrue(st.get("stages").get(1).get("steps").asLong() > 0);
        assertTrue(st.get("stages").get(1).get("step_compute_ms").asDouble() > 0);
        assertNotNull(st.get("scheduler").get("queued"));
        assertTrue(st.get("totals").get("generated_tokens").asLong() >= 3);
        String metrics = get(server, "/metrics").body();
        assertTrue(metrics.contains("# TYPE strata_generated_tokens_total counter"), metrics);
        assertTrue(metrics.contains("strata_stage_kv_bytes{stage=\"1\",worker=\"local-1\",layers=\"2-3\"}"), metrics);
        assertTrue(metrics.contains("strata_inter_token_seconds_bucket{le=\"+Inf\"}"), metrics);
        Reply page = get(server, "/");
        assertEquals(200, page.status());
        assertTrue(page.body().contains("<script src=\"/app.js\"></script>"));
        assertTrue(get(server, "/app.js").body().contains("/api/status"));
    }

    static void streamRequest(Socket s, String body) throws Exception {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " + b.length
                + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
        s.setSoTimeout(30_000);
    }

    static void awaitDataLine(BufferedReader in) throws Exception {
        String line = in.readLine();
        assertEquals("HTTP/1.1 200 OK", line);
        while ((line = in.readLine()) != null) {
            if (line.startsWith("data: {") && line.contains("\"text\":\"") && !line.contains("\"text\":\"\"")) return;
        }
        throw new AssertionError("the stream ended before a token");
    }
}
