package io.strata.ops.cluster;

import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata local} as a user runs it: a separate process with two worker processes under it; it prints where the
 * API is, answers a completion, and on SIGTERM stops itself and every worker.
 */
class LocalCommandTest {

    @Test
    void startsAClusterServesAndStopsEverythingOnSigterm() throws Exception {
        Path log = Path.of("target", "local-command-test.err");
        Files.createDirectories(log.getParent());
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss4m",
                "-cp", System.getProperty("java.class.path"), "io.strata.ops.Main", "local",
                "--model", Fixtures.path("small/small-Q4_0.gguf").toString(), "--workers", "2", "--port", "0", "--context", "256",
                "--no-verify").redirectError(log.toFile()).start();
        try {
            CompletableFuture<String> api = new CompletableFuture<>();
            Thread.ofPlatform().daemon().start(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        if (line.startsWith("OpenAI API: ")) api.complete(line.substring("OpenAI API: ".length()).trim());
                    }
                } catch (java.io.IOException e) {
                    // ended
                }
                api.completeExceptionally(new AssertionError("strata local ended before it was ready; see " + log.toAbsolutePath()));
            });
            String base = api.get(180, TimeUnit.SECONDS);
            assertTrue(base.matches("http://127\\.0\\.0\\.1:\\d+/v1"), base);
            List<ProcessHandle> workers = p.children().filter(ProcessHandle::isAlive).toList();
            assertEquals(2, workers.size(), "two worker processes");

            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/completions"))
                    .timeout(Duration.ofSeconds(60)).header("content-type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"small-Q4_0.gguf\",\"prompt\":\"The llama\",\"max_tokens\":5,\"temperature\":0}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.body().contains("\"completion_tokens\":5"), r.body());

            p.destroy();  // SIGTERM
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "strata local did not stop");
            for (ProcessHandle w : workers) {
                w.onExit().get(30, TimeUnit.SECONDS);
                assertTrue(!w.isAlive(), "worker " + w.pid() + " still running");
            }
            String err = Files.readString(log);
            assertTrue(err.contains("strata local: stopping"), err);
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }
}
