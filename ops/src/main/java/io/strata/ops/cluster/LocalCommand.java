package io.strata.ops.cluster;

import io.strata.coordinator.Coordinator;
import io.strata.coordinator.Plan;
import io.strata.coordinator.WorkerState;
import io.strata.engine.util.Bytes;
import io.strata.coordinator.zk.EmbeddedZooKeeper;
import io.strata.engine.model.Synth;
import io.strata.engine.tensor.GgmlType;
import io.strata.ops.JvmOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code strata local [--model F] [--workers N] [--host A] [--port P] [--api-key K]... [--context N] [--concurrency N]}:
 * a whole cluster on this machine: an embedded ZooKeeper, a coordinator with the OpenAI API in this process, and N
 * worker processes (separate JVMs on loopback TCP). Without a model it writes a small random-weight one and says
 * plainly that its text is noise. Ctrl-C or SIGTERM stops everything.
 */
@Command(name = "local", mixinStandardHelpOptions = true,
        description = "Start ZooKeeper, a coordinator (with the OpenAI API and dashboard) and N worker processes on this machine.")
public final class LocalCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, description = "GGUF model file (default: a small synthetic random-weight model)")
    Path model;

    @Option(names = "--workers", defaultValue = "2", description = "worker processes (default: ${DEFAULT-VALUE})")
    int workers;

    @Option(names = {"-t", "--threads"}, defaultValue = "1", description = "CPU threads per worker (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--memory", description = "memory budget per worker, e.g. 8g (default: each worker's 80% of physical memory)")
    String memory;

    @Option(names = "--ready-timeout", defaultValue = "600", description = "seconds to wait for the pipeline (default: ${DEFAULT-VALUE})")
    int readyTimeout;

    @Mixin
    GatewayOptions gateway;

    @Mixin
    ClusterOptions cluster;

    private static final String SYNTHETIC = "synthetic-llama-tiny-Q4_0.gguf";

    private final List<Process> procs = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        if (workers < 1) throw new IllegalArgumentException("--workers must be at least 1");
        String modelId = (model == null ? SYNTHETIC : model.getFileName()).toString();
        var gatewayConfig = gateway.config(modelId);  // checks --host and the keys before anything starts
        long t0 = System.nanoTime();
        Path dir = Files.createTempDirectory("strata-local");
        Path logs = Files.createDirectories(dir.resolve("logs"));
        Path m = model;
        if (m == null) {
            m = dir.resolve(SYNTHETIC);
            Synth.write("llama-tiny", Synth.preset("llama-tiny").layers(), GgmlType.Q4_0, 1, m);
            System.err.println("strata local: no --model given: serving a synthetic model with random weights (llama-tiny shapes, "
                    + "4 layers); it runs for real, but ITS TEXT IS NOISE. Pass --model FILE.gguf for a real model.");
        } else if (!Files.isRegularFile(m)) {
            throw new IllegalArgumentException("--model: no such file: " + m);
        }
        m = m.toAbsolutePath();

        EmbeddedZooKeeper zk;
        try {
            zk = EmbeddedZooKeeper.start("127.0.0.1", 0, dir.resolve("zk"));
        } catch (LinkageError e) {
            // ZooKeeper installs an uncaught-exception handler that only logs: report it as a plain failure.
            throw new IllegalStateException("cannot start the embedded ZooKeeper: " + e, e);
        }
        Coordinator coordinator = null;
        Serving serving = null;
        CountDownLatch stopped = new CountDownLatch(1);
        Runnable shutdown = shutdown(zk, dir, stopped);
        Thread hook = new Thread(shutdown, "local-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            List<CompletableFuture<String>> ready = new ArrayList<>();
            for (int i = 0; i < workers; i++) ready.add(spawn("local-w" + i, zk.connectString(), m.getParent(), logs));
            for (int i = 0; i < workers; i++) {
                String line = ready.get(i).get(120, TimeUnit.SECONDS);
                System.err.println("strata local: worker " + line.substring("READY ".length()));
            }
            coordinator = new Coordinator(cluster.config(zk.connectString(), "/strata", "local-coordinator", m, workers, 0));
            this.coordinator = coordinator;
            serving = Serving.start(coordinator, m, gatewayConfig);
            this.serving = serving;
            coordinator.awaitReady(Duration.ofSeconds(readyTimeout));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            Plan plan = coordinator.plan();
            System.err.printf(Locale.ROOT, "strata local: ready in %.1f s; %s%n", ms / 1e3, plan.describe());
            for (Plan.Stage s : plan.stages()) {
                WorkerState st = coordinator.workerStates().get(s.workerId());
                long nanos = st == null ? 0 : st.loadNanos();
                System.err.printf(Locale.ROOT, "  stage %d  %-10s layers %-9s %9s loaded in %6.1f ms%s%n", s.index(), s.workerId(), s.range(),
                        Bytes.format(s.weightBytes()), nanos / 1e6,
                        nanos > 0 ? String.format(Locale.ROOT, " (%.0f MB/s)", s.weightBytes() / (nanos / 1e9) / 1e6) : "");
            }
            String base = "http://" + gateway.displayHost() + ":" + serving.port();
            System.out.println("OpenAI API: " + base + "/v1" + (gatewayConfig.apiKeys().isEmpty() ? ""
                    : "   (" + gatewayConfig.apiKeys().size() + " API key" + (gatewayConfig.apiKeys().size() == 1 ? "" : "s")
                    + ": Authorization: Bearer KEY)"));
            System.out.println("dashboard:  " + base + "/");
            if (gateway.wildcard()) System.out.println("listening on every interface (" + gateway.host + ")");
            String exposed = gateway.exposureWarning();
            if (exposed != null) System.err.println("strata local: warning: " + exposed);
            System.out.println("model id:   " + modelId + "   context " + cluster.context + " positions, " + cluster.sequences
                    + " sequences at once");
            System.out.println("ZooKeeper:  " + zk.connectString() + "   logs: " + logs);
            System.out.println("Ctrl-C stops everything.");
            System.out.flush();
            stopped.await();
            return 0;
        } catch (Exception | Error e) {
            Runtime.getRuntime().removeShutdownHook(hook);
            shutdown.run();
            if (e instanceof Error err) throw new IllegalStateException(err.toString(), err);
            throw e;
        }
    }

    private volatile Coordinator coordinator;
    private volatile Serving serving;

    private Runnable shutdown(EmbeddedZooKeeper zk, Path dir, CountDownLatch stopped) {
        return () -> {
            if (stopped.getCount() == 0) return;
            System.err.println("strata local: stopping");
            Serving s = serving;
            if (s != null) s.close();
            Coordinator c = coordinator;
            if (c != null) c.close();
            for (Process p : procs) {
                try {
                    p.getOutputStream().close();  // the worker deregisters and exits
                } catch (IOException e) {
                    // already gone
                }
            }
            for (Process p : procs) {
                try {
                    if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly();
                } catch (InterruptedException e) {
                    p.destroyForcibly();
                }
            }
            zk.close();
            deleteQuietly(dir.resolve("zk"));
            if (model == null) deleteQuietly(dir.resolve(SYNTHETIC));
            stopped.countDown();
        };
    }

    /** Starts a worker JVM; completes with its READY line. */
    private CompletableFuture<String> spawn(String id, String zk, Path models, Path logs) throws IOException {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java));
        cmd.addAll(JvmOptions.WORKER);
        cmd.addAll(JvmOptions.classDataSharing());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.strata.ops.Main", "worker",
                "--zk", zk, "--id", id, "--models", models.toString(), "--port", "0", "--bind", "127.0.0.1", "--host", "127.0.0.1",
                "--threads", Integer.toString(threads), "--bench-bytes", "64m", "--exit-with-stdin"));
        if (memory != null) cmd.addAll(List.of("--memory", memory));
        Path log = logs.resolve(id + ".log");
        Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        procs.add(p);
        CompletableFuture<String> ready = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("out-" + id).start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) if (line.startsWith("READY ")) ready.complete(line);
            } catch (IOException e) {
                // the process ended
            }
            ready.completeExceptionally(new IllegalStateException("worker " + id + " exited; see " + log));
        });
        return ready;
    }

    private static void deleteQuietly(Path dir) {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temporary folder
        }
    }
}
