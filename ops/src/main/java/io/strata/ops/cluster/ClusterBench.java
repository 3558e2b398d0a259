package io.strata.ops.cluster;

import io.strata.coordinator.Coordinator;
import io.strata.coordinator.Generator;
import io.strata.coordinator.Plan;
import io.strata.coordinator.WorkerState;
import io.strata.coordinator.placement.ModelProfile;
import io.strata.coordinator.zk.EmbeddedZooKeeper;
import io.strata.coordinator.zk.PlanStore;
import io.strata.coordinator.zk.ZkRecords;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.ops.JvmOptions;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The per-boundary overhead benchmark: one model split evenly over 1..N real worker processes on this machine
 * (embedded ZooKeeper, coordinator in this JVM, workers as separate JVMs on loopback TCP, one thread each), single
 * stream greedy decode, and for each split:
 * <ul>
 *   <li>TPOT = median round trip of a decode step (coordinator → stage 0 → … → last stage → coordinator);</li>
 *   <li>network = TPOT − the stages' own compute time for that step (each stage reports it), so kernel or cache
 *       differences between splits do not pass for network cost;</li>
 *   <li>h = (TPOT(N) − TPOT(1)) / (N − 1), and the same on the network part alone.</li>
 * </ul>
 * Usage: {@code java -cp ... io.strata.ops.cluster.ClusterBench MODEL [maxStages=4] [tokens=64] [reps=3]}; the workers'
 * JVMs take extra options from {@code -Dstrata.bench.workerJavaOpts="..."} (space-separated).
 * <p>By default every worker binds 127.0.0.1. With {@code -Dstrata.bench.netns=ns0:addr0,ns1:addr1,...} worker k runs
 * inside network namespace {@code ns<k>} ({@code ip netns exec ns<k> java ...}, so this JVM must be allowed to run
 * {@code ip netns exec}, i.e. root) and binds and advertises {@code addr<k>}; {@code -Dstrata.bench.zk=ADDR} is where
 * the embedded ZooKeeper listens, an address of this JVM's namespace that the workers' namespaces reach.
 * {@code ops/bench/netns.sh} sets such namespaces up (joined by veth to a bridge, with an optional one-way delay on
 * each worker's egress) and passes both properties.
 * Prints one JSON object per split; {@code stage_wait_ms} is the part of the network figure the steps spent waiting at
 * the stages before their compute began (thread wake-ups and queues, not the wire). Empty steps (no rows, no compute)
 * are timed back to back ({@code empty_step}), each after 100 ms with every process asleep ({@code empty_after_sleep}:
 * wake-ups after idle) and each after 100 ms of the benchmark thread streaming 256 MiB ({@code empty_after_stream}:
 * the caches evicted as by a forward pass over the weights).
 */
public final class ClusterBench {
    private static final int EMPTY_WARMUP = 3000;
    private static final int EMPTY_MEASURED = 2000;
    private static final int SPACED = 40;
    private static final int SPACING_MS = 100;
    /** 256 MiB: eight times the last-level cache of the machine measured. */
    private static final long[] BIG = new long[32 << 20];
    private static volatile long sink;

    private ClusterBench() {
    }

    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]).toAbsolutePath();
        int maxStages = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int reps = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        ModelConfig cfg;
        String fingerprint;
        ModelProfile profile;
        int ctx = 256;
        // Activation type on the wire between stages: f32 (default), f16 or bf16 (-Dstrata.bench.activations).
        String activations = System.getProperty("strata.bench.activations", "f32");
        if (!List.of("f32", "f16", "bf16").contains(activations)) {
            throw new IllegalArgumentException("strata.bench.activations must be f32, f16 or bf16, not " + activations);
        }
        try (GgufFile f = GgufFile.open(model)) {
            cfg = ModelConfig.from(f);
            fingerprint = f.fingerprint();
            profile = ModelProfile.of(model.getFileName().toString(), f, ctx, 1, "f16", 16);
        }
        Path logs = Files.createTempDirectory("strata-bench");
        List<Process> procs = new ArrayList<>();
        // Optional: workers in network namespaces (set up beforehand, e.g. by ops/bench/netns.sh), given as
        // -Dstrata.bench.netns=ns0:addr0,ns1:addr1,... with -Dstrata.bench.zk=<this namespace's address on that network>.
        List<String[]> netns = netnsOption(System.getProperty("strata.bench.netns", ""), maxStages);
        String zkHost = System.getProperty("strata.bench.zk", "127.0.0.1");
        if (!netns.isEmpty() && zkHost.startsWith("127.")) {
            throw new IllegalArgumentException("strata.bench.netns puts the workers in other network namespaces, where " + zkHost
                    + " is their own loopback: set -Dstrata.bench.zk to this namespace's address on their network");
        }
        try (EmbeddedZooKeeper zk = EmbeddedZooKeeper.start(zkHost, 0, null);
             CuratorFramework client = CuratorFrameworkFactory.builder().connectString(zk.connectString()).namespace("strata")
                     .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000)).build();
             // Closed first (resources close in reverse): the workers stop while ZooKeeper still answers them.
             AutoCloseable workersFirst = () -> stopWorkers(procs)) {
            client.start();
            List<String[]> workers = new ArrayList<>();
            for (int i = 0; i < maxStages; i++) {
                String java = ProcessHandle.current().info().command().orElseThrow();
                String host = netns.isEmpty() ? "127.0.0.1" : netns.get(i)[1];
                List<String> cmd = new ArrayList<>();
                if (!netns.isEmpty()) cmd.addAll(List.of("ip", "netns", "exec", netns.get(i)[0]));
                cmd.add(java);
                cmd.addAll(JvmOptions.WORKER);  // as production workers run
                // Optional extra JVM options for the workers, e.g. -Dstrata.bench.workerJavaOpts=-XX:+UseTransparentHugePages
                for (String o : System.getProperty("strata.bench.workerJavaOpts", "").split(" ")) if (!o.isBlank()) cmd.add(o);
                cmd.addAll(JvmOptions.classDataSharing());
                cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.strata.ops.Main", "worker",
                        "--zk", zk.connectString(), "--id", "b" + i, "--models", model.getParent().toString(), "--port", "0",
                        "--bind", host, "--host", host, "--threads", "1", "--bench-bytes", "32m", "--exit-with-stdin"));
                Process p = new ProcessBuilder(cmd).redirectError(logs.resolve("b" + i + ".log").toFile()).start();
                procs.add(p);
                BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                String line;
                while ((line = r.readLine()) != null && !line.startsWith("READY ")) {
                    // skip
                }
                if (line == null) {
                    throw new IllegalStateException("worker b" + i + (netns.isEmpty() ? "" : " (namespace " + netns.get(i)[0] + ", " + host + ")")
                            + " exited before it was ready; see " + logs.resolve("b" + i + ".log"));
                }
                workers.add(line.split(" "));
            }
            long version = 0;
            double tpot1 = 0;
            double net1 = 0;
            double netP10First = 0;
            double transport1 = 0;
            double sleep1 = 0;
            double early1 = 0;
            double late1 = 0;
            double stream1 = 0;
            List<String> summary = new ArrayList<>();
            for (int n = 1; n <= maxStages; n++) {
                // An even split over the first n workers, stored as the plan the coordinator takes over.
                List<Plan.Stage> stages = new ArrayList<>();
                for (int s = 0; s < n; s++) {
                    int first = s * cfg.layers() / n;
                    int end = (s + 1) * cfg.layers() / n;
                    stages.add(new Plan.Stage(s, workers.get(s)[1], workers.get(s)[2], first, end, profile.weightBytes(first, end),
                            profile.kvBytes(first, end), 0));
                }
                Plan plan = new Plan(++version, "bench", model.getFileName().toString(), fingerprint, null, ctx, 1, "f16", activations, 16,
                        List.copyOf(stages), 0);
                byte[] json = ZkRecords.json(ZkRecords.record(plan));
                if (client.checkExists().forPath(PlanStore.PATH) == null) client.create().forPath(PlanStore.PATH, json);
                else client.setData().forPath(PlanStore.PATH, json);
                try (Coordinator c = new Coordinator(new Coordinator.Config(zk.connectString(), "/strata", "bench", model, ctx, 1, "f16",
                        activations, 16, 1, 0, false, 15_000)); Generator g = new Generator(c::pipeline, Duration.ofMinutes(5))) {
                    c.awaitReady(Duration.ofMinutes(10));
                    int[] prompt = new SplittableRandom(7).ints(16, 0, cfg.vocab()).toArray();
                    g.generate(Generator.Request.greedy(prompt, Math.min(16, tokens)), null);  // warm-up: JIT and page-in
                    // Empty steps (no rows) travel the whole pipeline without compute: they warm up the transport's
                    // code (a few dozen decode steps of a big model would leave it interpreted) and measure it alone.
                    var p = c.pipeline();
                    for (int i = 0; i < EMPTY_WARMUP; i++) p.submit(List.of()).get(30, TimeUnit.SECONDS);
                    List<Long> empty = new ArrayList<>();
                    for (int i = 0; i < EMPTY_MEASURED; i++) empty.add(p.submit(List.of()).get(30, TimeUnit.SECONDS).roundTripNanos());
                    double transport = median(empty) / 1e6;
                    double transportP10 = pct(empty, 10) / 1e6;
                    // The same empty steps, each after 100 ms with every process asleep (wake-ups after idle), and
                    // each after 100 ms of this thread streaming 256 MiB (caches full of other data, as after a
                    // forward pass over the weights, while the other processes sleep).
                    List<Long> afterSleep = new ArrayList<>();
                    List<Long> afterStream = new ArrayList<>();
                    for (int i = 0; i < SPACED; i++) {
                        Thread.sleep(SPACING_MS);
                        afterSleep.add(p.submit(List.of()).get(30, TimeUnit.SECONDS).roundTripNanos());
                        stream(SPACING_MS);
                        afterStream.add(p.submit(List.of()).get(30, TimeUnit.SECONDS).roundTripNanos());
                    }
                    double sleepMs = median(afterSleep) / 1e6;
                    double streamMs = median(afterStream) / 1e6;
                    List<Long> rtt = new ArrayList<>();
                    List<Long> net = new ArrayList<>();
                    List<Long> queued = new ArrayList<>();
                    for (int rep = 0; rep < reps; rep++) {
                        Generator.Result r = g.generate(Generator.Request.greedy(prompt, tokens), null);
                        for (int i = 0; i < r.stepNanos().length; i++) {
                            rtt.add(r.stepNanos()[i]);
                            net.add(r.stepNanos()[i] - r.computeNanos()[i]);
                            queued.add(r.queuedNanos()[i]);
                        }
                    }
                    double tpot = median(rtt) / 1e6;
                    double nett = median(net) / 1e6;
                    double netP10 = pct(net, 10) / 1e6;
                    // The decode steps' network in the first and the second half of the run: code that only
                    // non-empty steps use (activation encoding, larger messages) is warmed up by these steps alone.
                    double earlyP10 = pct(net.subList(0, net.size() / 2), 10) / 1e6;
                    double lateP10 = pct(net.subList(net.size() / 2, net.size()), 10) / 1e6;
                    if (n == 1) {
                        tpot1 = tpot;
                        net1 = nett;
                        netP10First = netP10;
                        transport1 = transport;
                        sleep1 = sleepMs;
                        early1 = earlyP10;
                        late1 = lateP10;
                        stream1 = streamMs;
                    }
                    String load = loads(c, plan);
                    String row = String.format(Locale.ROOT,
                            "{\"stages\":%d,\"activations\":\"%s\",\"steps\":%d,\"tpot_ms\":%.3f,\"tpot_p10_ms\":%.3f,\"tpot_p90_ms\":%.3f,\"network_ms\":%.3f,"
                                    + "\"network_p10_ms\":%.3f,\"network_p90_ms\":%.3f,\"stage_wait_ms\":%.3f,\"h_ms\":%s,\"h_network_ms\":%s,\"h_network_p10_ms\":%s,"
                                    + "\"network_p10_early_ms\":%.3f,\"network_p10_late_ms\":%.3f,\"h_network_p10_early_ms\":%s,\"h_network_p10_late_ms\":%s,\"empty_step_ms\":%.3f,\"empty_step_p10_ms\":%.3f,\"h_empty_ms\":%s,"
                                    + "\"empty_after_sleep_ms\":%.3f,\"empty_after_sleep_p10_ms\":%.3f,\"h_empty_after_sleep_ms\":%s,"
                                    + "\"empty_after_stream_ms\":%.3f,\"empty_after_stream_p10_ms\":%.3f,\"h_empty_after_stream_ms\":%s,\"loadavg\":%.2f,\"loads\":[%s]}",
                            n, activations, rtt.size(), tpot, pct(rtt, 10) / 1e6, pct(rtt, 90) / 1e6, nett, pct(net, 10) / 1e6, pct(net, 90) / 1e6, median(queued) / 1e6,
                            n == 1 ? "null" : String.format(Locale.ROOT, "%.3f", (tpot - tpot1) / (n - 1)),
                            n == 1 ? "null" : String.format(Locale.ROOT, "%.3f", (nett - net1) / (n - 1)),
                            n == 1 ? "null" : String.format(Locale.ROOT, "%.3f", (netP10 - netP10First) / (n - 1)),
                            earlyP10, lateP10,
                            n == 1 ? "null" : String.format(Locale.ROOT, "%.3f", (earlyP10 - early1) / (n - 1)),
                            n == 1 ? "null" : String.format(Locale.ROOT, "%.3f", (lateP10 - late1) / (n - 1)),
                            transport, transportP10,
                            n == 1 ? "null" : String.format(Locale.ROOT, "%.3f", (transport - transport1) / (n - 1)),
                            sleepMs, pct(afterSleep, 10) / 1e6,
                            n == 1 ? "null" : String.format(Locale.ROOT, "%.3f", (sleepMs - sleep1) / (n - 1)),
                            streamMs, pct(afterStream, 10) / 1e6,
                            n == 1 ? "null" : String.format(Locale.ROOT, "%.3f", (streamMs - stream1) / (n - 1)),
                            java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(), load);
                    System.out.println(row);
                    System.out.flush();
                    summary.add(row);
                }
            }
        }
    }

    /** Closes the workers' stdin (they exit with it) and waits up to 10 s for each. */
    private static void stopWorkers(List<Process> procs) throws java.io.IOException, InterruptedException {
        for (Process p : procs) p.getOutputStream().close();
        for (Process p : procs) if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly();
    }

    /**
     * Parses {@code strata.bench.netns}: empty for loopback workers, else one {@code name:address} per worker, at least
     * {@code workers} of them.
     */
    static List<String[]> netnsOption(String value, int workers) {
        if (value.isBlank()) return List.of();
        List<String[]> out = new ArrayList<>();
        for (String entry : value.split(",")) {
            int colon = entry.indexOf(':');
            if (colon <= 0 || colon == entry.length() - 1 || entry.indexOf(':', colon + 1) >= 0) {
                throw new IllegalArgumentException("strata.bench.netns entry '" + entry + "' is not NAMESPACE:ADDRESS (in '" + value + "')");
            }
            out.add(new String[] {entry.substring(0, colon).strip(), entry.substring(colon + 1).strip()});
        }
        if (out.size() < workers) {
            throw new IllegalArgumentException("strata.bench.netns names " + out.size() + " namespaces for " + workers + " workers");
        }
        return out;
    }

    /** Streams {@link #BIG} for {@code ms}, evicting the caches. */
    private static void stream(int ms) {
        long end = System.nanoTime() + ms * 1_000_000L;
        long x = 0;
        int i = 0;
        while (System.nanoTime() < end) {
            for (int j = 0; j < 4096; j++, i = (i + 8) & (BIG.length - 1)) x += BIG[i];
        }
        sink = x;
    }

    private static String loads(Coordinator c, Plan plan) {
        StringBuilder sb = new StringBuilder();
        for (Plan.Stage s : plan.stages()) {
            WorkerState st = c.workerStates().get(s.workerId());
            if (!sb.isEmpty()) sb.append(',');
            sb.append(String.format(Locale.ROOT, "{\"worker\":\"%s\",\"layers\":\"%s\",\"bytes\":%d,\"load_ms\":%.1f}", s.workerId(), s.range(),
                    s.weightBytes(), st == null ? -1 : st.loadNanos() / 1e6));
        }
        return sb.toString();
    }

    private static double median(List<Long> v) {
        return pct(v, 50);
    }

    private static double pct(List<Long> v, int p) {
        long[] a = v.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(a);
        return a[Math.min(a.length - 1, (int) Math.round(p / 100.0 * (a.length - 1)))];
    }
}
