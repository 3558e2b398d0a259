package io.strata.ops.cluster;

import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata local} as a user runs it: a separate process with two worker processes under it; it prints where the
 * API is, answers a completion, and on SIGTERM stops itself and every worker. The run uses the gateway options a user
 * would (every interface, API keys on the command line and in a file, a context length and a concurrency), and checks
 * each of them took effect.
 */
class LocalCommandTest {

    @Test
    void startsAClusterServesAndStopsEverythingOnSigterm() throws Exception {
        Path log = Path.of("target", "local-command-test.err");
        Files.createDirectories(log.getParent());
        Path keyFile = Path.of("target", "local-command-test.keys");
        Files.writeString(keyFile, "# keys for the test\nkey-from-file\n\n");
        StringBuilder stdout = new StringBuilder();
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss4m",
                "-cp", System.getProperty("java.class.path"), "io.strata.ops.Main", "local",
                "--model", Fixtures.path("small/small-Q4_0.gguf").toString(), "--workers", "2", "--port", "0", "--context", "256",
                "--no-verify", "--host", "0.0.0.0", "--api-key", "key-one", "--api-key-file", keyFile.toString(), "--concurrency", "3")
                .redirectError(log.toFile()).start();
        try {
            CompletableFuture<String> api = new CompletableFuture<>();
            Thread.ofPlatform().daemon().start(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        synchronized (stdout) {
                            stdout.append(line).append('\n');
                        }
                        if (line.startsWith("Ctrl-C stops everything")) api.complete(stdout.toString());
                    }
                } catch (java.io.IOException e) {
                    // ended
                }
                api.completeExceptionally(new AssertionError("strata local ended before it was ready; see " + log.toAbsolutePath()));
            });
            String printed = api.get(180, TimeUnit.SECONDS);
            Matcher m = Pattern.compile("OpenAI API: (http://127\\.0\\.0\\.1:(\\d+)/v1)   \\(2 API keys").matcher(printed);
            assertTrue(m.find(), printed);
            String base = m.group(1);
            int port = Integer.parseInt(m.group(2));
            List<ProcessHandle> workers = p.children().filter(ProcessHandle::isAlive).toList();
            assertEquals(2, workers.size(), "two worker processes");

            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            String body = "{\"model\":\"small-Q4_0.gguf\",\"prompt\":\"The llama\",\"max_tokens\":5,\"temperature\":0}";
            HttpResponse<String> r = http.send(completion(base, body, null), HttpResponse.BodyHandlers.ofString());
            assertEquals(401, r.statusCode(), "no key: " + r.body());
            r = http.send(completion(base, body, "key-zero"), HttpResponse.BodyHandlers.ofString());
            assertEquals(401, r.statusCode(), "a wrong key: " + r.body());
            for (String key : List.of("key-one", "key-from-file")) {
                r = http.send(completion(base, body, key), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), key + ": " + r.body());
                assertTrue(r.body().contains("\"completion_tokens\":5"), r.body());
            }
            // --context and --concurrency reached the plan: the scheduler admits by them
            String status = http.send(HttpRequest.newBuilder(URI.create(base.replace("/v1", "/api/status"))).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            assertTrue(status.contains("\"max_sequences\":3,\"context_length\":256"), status);
            // --host 0.0.0.0: reachable on this machine's other addresses too (where it has one)
            InetAddress other = nonLoopbackAddress();
            if (other != null) {
                try (Socket sock = new Socket()) {
                    sock.connect(new InetSocketAddress(other, port), 10_000);
                }
            }
            assertTrue(printed.contains("listening on every interface (0.0.0.0)"), printed);

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

    static HttpRequest completion(String base, String body, String key) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/completions")).timeout(Duration.ofSeconds(60))
                .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("authorization", "Bearer " + key);
        return b.build();
    }

    /** An IPv4 address of this machine other than loopback, or null. */
    static java.net.InetAddress nonLoopbackAddress() throws java.net.SocketException {
        for (java.net.NetworkInterface n : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
            if (!n.isUp() || n.isLoopback()) continue;
            for (java.net.InetAddress a : java.util.Collections.list(n.getInetAddresses())) {
                if (a instanceof java.net.Inet4Address) return a;
            }
        }
        return null;
    }

    @Test
    void helpListsTheOptionsAUserNeeds() {
        java.io.StringWriter out = new java.io.StringWriter();
        var cl = io.strata.ops.Main.commandLine();
        cl.setOut(new java.io.PrintWriter(out, true));
        assertEquals(0, cl.execute("local", "--help"));
        String help = out.toString();
        for (String option : List.of("--model", "--workers", "--host", "--port", "--api-key", "--api-key-file", "--context",
                "--concurrency", "--sequences", "--threads", "--memory", "--kv", "--activations", "--help")) {
            assertTrue(help.contains(option), option + " in:\n" + help);
        }
        assertTrue(help.contains("default: 127.0.0.1"), help);
    }

    @Test
    void badGatewayOptionsAreRefusedBeforeAnythingStarts() {
        java.io.StringWriter err = new java.io.StringWriter();
        var cl = io.strata.ops.Main.commandLine();
        cl.setErr(new java.io.PrintWriter(err, true));
        assertEquals(1, cl.execute("local", "--api-key-file", "target/no-such-keys", "--port", "0"));
        assertTrue(err.toString().contains("--api-key-file: no such file: target/no-such-keys"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(1, cl.execute("local", "--api-key", "two words", "--port", "0"));
        assertTrue(err.toString().contains("--api-key: a key must be non-empty and without spaces"), err.toString());
    }
}
