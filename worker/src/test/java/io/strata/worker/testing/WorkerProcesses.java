package io.strata.worker.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Starts worker processes (separate JVMs with this JVM's java and class path, real TCP on loopback) and stops them.
 * Each worker's log goes to {@code target/worker-logs/<id>.log}.
 */
public final class WorkerProcesses implements AutoCloseable {

    /** A running worker process. */
    public record Handle(String id, String address, Process process, Path log) {
        public void kill() {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private final List<Handle> handles = new ArrayList<>();

    /** Starts a worker and waits (up to 60 s) until it has registered in ZooKeeper. */
    public Handle start(String zk, String id, Path models, long memoryBytes, String... extra) throws IOException, InterruptedException {
        Path logs = Path.of("target", "worker-logs");
        Files.createDirectories(logs);
        Path log = logs.resolve(id + ".log");
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xss4m", "-XX:+UseSerialGC", "-Xmx512m",
                "-cp", System.getProperty("java.class.path"), WorkerProcessMain.class.getName(),
                "--zk", zk, "--id", id, "--models", models.toString(), "--memory", Long.toString(memoryBytes)));
        cmd.addAll(List.of(extra));
        Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        CompletableFuture<String> ready = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.startsWith("READY ")) ready.complete(line);
                }
            } catch (IOException e) {
                // process ended
            }
            ready.completeExceptionally(new IllegalStateException("worker " + id + " exited before it was ready; see " + log.toAbsolutePath()));
        });
        String line;
        try {
            line = ready.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            p.destroyForcibly();
            throw new IllegalStateException("worker " + id + " did not become ready: " + e.getMessage() + "; log " + log.toAbsolutePath(), e);
        }
        String[] parts = line.split(" ");
        Handle h = new Handle(parts[1], parts[2], p, log);
        handles.add(h);
        return h;
    }

    @Override
    public void close() {
        for (Handle h : handles) {
            try {
                h.process().getOutputStream().close();  // asks it to deregister and exit
            } catch (IOException e) {
                // already gone
            }
        }
        for (Handle h : handles) {
            try {
                if (!h.process().waitFor(10, TimeUnit.SECONDS)) h.kill();
            } catch (InterruptedException e) {
                h.kill();
            }
        }
        handles.clear();
    }
}
