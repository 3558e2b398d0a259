package io.strata.worker;

import io.strata.engine.util.Bytes;
import io.strata.engine.tensor.GgmlType;
import io.strata.proto.v1.LayerRange;
import io.strata.proto.v1.ModelTiming;
import io.strata.proto.v1.ProtocolVersion;
import io.strata.proto.v1.StageState;
import io.strata.proto.v1.TypeThroughput;
import io.strata.proto.v1.WorkerRecord;
import io.strata.worker.grpc.WorkerServer;
import io.strata.worker.zk.Registration;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.management.ManagementFactory;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * A worker process: measures itself, serves the control and stage services, registers in ZooKeeper and then holds
 * whatever stage the coordinator assigns. {@link #start} returns once it is registered; {@link #close} deregisters,
 * frees the stage and stops serving.
 */
public final class Worker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Worker.class);

    private final WorkerConfig config;
    private final String id;
    private final StageSlot slot;
    private final WorkerServer server;
    private final CuratorFramework zk;
    private final Registration registration;
    private final WorkerRecord base;
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile boolean closing;
    private final long budget;

    private Worker(WorkerConfig config, String id, StageSlot slot, WorkerServer server, CuratorFramework zk,
                   Registration registration, WorkerRecord base, long budget) {
        this.config = config;
        this.id = id;
        this.slot = slot;
        this.server = server;
        this.zk = zk;
        this.registration = registration;
        this.base = base;
        this.budget = budget;
    }

    public static Worker start(WorkerConfig c) throws Exception {
        long total = totalMemory();
        long budget = c.memoryBytes() > 0 ? c.memoryBytes() : (long) (total * 0.8);
        long workingSet = c.backend().recommendedWorkingSetBytes();
        if (workingSet > 0 && workingSet < budget) budget = workingSet; // e.g. a Mac GPU's recommendedMaxWorkingSetSize
        StageSlot[] slotHolder = new StageSlot[1];
        WorkerServer server = null;
        CuratorFramework zk = null;
        try {
            // The slot links through the server and the server serves the slot: the linker forwards to the server.
            WorkerServer[] serverHolder = new WorkerServer[1];
            StageSlot.Linker linker = (a, onBroken) -> serverHolder[0].connect(a, onBroken);
            int port = c.port();
            if (port == 0 && c.id() == null) {
                // Pick the free port up front so the default id can carry it.
                try (var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName(c.bindHost()))) {
                    port = s.getLocalPort();
                }
            }
            String id = c.id() != null ? c.id() : c.advertiseHost() + "-" + port;
            StageSlot slot = new StageSlot(id, c.backend(), new ShardLoader(id, c.modelsDir(), budget), linker, 2 * WorkerServer.WINDOW + 2);
            slotHolder[0] = slot;
            server = new WorkerServer(id, slot);
            serverHolder[0] = server;
            server.start(c.bindHost(), port, c.advertiseHost());
            log.info("worker {}: serving on {} (backend {}, budget {})", id, server.address(), c.backend().name(), Bytes.format(budget));

            long bench = c.benchmarkBytes() > 0 ? c.benchmarkBytes() : WorkerConfig.DEFAULT_BENCHMARK_BYTES;
            long t0 = System.nanoTime();
            SelfBenchmark.Result r = SelfBenchmark.run(c.backend(), c.modelsDir(), bench, bench / 4);
            log.info("worker {}: self-benchmark in {} ms: memory {} GB/s, matmul {}", id, (System.nanoTime() - t0) / 1_000_000,
                    String.format("%.1f", r.bandwidthBytesPerSecond() / 1e9), describe(r.matmulBytesPerSecond()));

            WorkerRecord.Builder rec = WorkerRecord.newBuilder().setWorkerId(id).setAddress(server.address())
                    .setBackend(c.backend().name()).setThreads(threads(c.backend()))
                    .setCpus(Runtime.getRuntime().availableProcessors()).setTotalMemoryBytes(total)
                    .setUsableMemoryBytes(budget).setRecommendedWorkingSetBytes(workingSet)
                    .setMemoryBandwidthBytesPerSecond(r.bandwidthBytesPerSecond())
                    .setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE).setStartedAtMillis(System.currentTimeMillis())
                    .setModelsDir(c.modelsDir() == null ? "" : c.modelsDir().toString()).setState(StageState.STAGE_STATE_IDLE);
            for (Map.Entry<GgmlType, Double> e : r.matmulBytesPerSecond().entrySet()) {
                rec.addMatmul(TypeThroughput.newBuilder().setType(e.getKey().name()).setBytesPerSecond(e.getValue()));
            }
            for (SelfBenchmark.ModelTiming m : r.models()) {
                rec.addModels(ModelTiming.newBuilder().setFileName(m.fileName()).setFingerprint(m.fingerprint())
                        .setSecondsPerLayer(m.secondsPerLayer()).setSecondsHead(m.secondsHead()));
            }
            WorkerRecord base = rec.build();

            zk = CuratorFrameworkFactory.builder().connectString(c.zk())
                    .namespace(namespace(c.root()))
                    .sessionTimeoutMs(c.sessionTimeoutMs() > 0 ? c.sessionTimeoutMs() : 15_000)
                    .connectionTimeoutMs(Math.min(10_000, c.sessionTimeoutMs() > 0 ? c.sessionTimeoutMs() : 15_000))
                    .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000))
                    .build();
            zk.start();
            Registration reg = new Registration(zk, base);
            if (!reg.start(30)) {
                throw new IllegalStateException("worker " + id + ": ZooKeeper at " + c.zk() + " did not answer within 30 s");
            }
            Worker w = new Worker(c, id, slot, server, zk, reg, base, budget);
            slot.addListener(w::publish);
            log.info("worker {}: registered in ZooKeeper {} under {}", id, c.zk(), c.root());
            return w;
        } catch (Exception | Error e) {
            if (slotHolder[0] != null) slotHolder[0].close();
            if (server != null) server.close();
            if (zk != null) zk.close();
            throw e;
        }
    }

    /** The ZooKeeper namespace for a root such as {@code /strata}. */
    public static String namespace(String root) {
        String r = root == null || root.isBlank() ? WorkerConfig.DEFAULT_ROOT : root;
        while (r.startsWith("/")) r = r.substring(1);
        while (r.endsWith("/")) r = r.substring(0, r.length() - 1);
        if (r.isEmpty()) throw new IllegalArgumentException("the ZooKeeper root must not be '/'");
        return r;
    }

    private void publish() {
        if (closing) return; // the record is already deleted; the slot's last state change (released) has no reader
        StageSlot.Status s = slot.status();
        WorkerRecord.Builder b = base.toBuilder().setState(switch (s.state()) {
            case IDLE -> StageState.STAGE_STATE_IDLE;
            case LOADING -> StageState.STAGE_STATE_LOADING;
            case LINKING -> StageState.STAGE_STATE_LINKING;
            case READY -> StageState.STAGE_STATE_READY;
            case FAILED -> StageState.STAGE_STATE_FAILED;
        }).setError(s.error());
        if (s.assignment() != null) {
            b.setRange(LayerRange.newBuilder().setFirst(s.assignment().first()).setEnd(s.assignment().end()))
                    .setPlanVersion(s.assignment().planVersion());
        }
        try {
            registration.update(b.build());
        } catch (Exception e) {
            log.warn("worker {}: could not update its ZooKeeper record: {}", id, e.getMessage());
        }
    }

    private static String describe(Map<GgmlType, Double> m) {
        StringBuilder sb = new StringBuilder();
        for (var e : m.entrySet()) sb.append(sb.isEmpty() ? "" : ", ").append(e.getKey()).append(' ')
                .append(String.format("%.1f GB/s", e.getValue() / 1e9));
        return sb.toString();
    }

    private static int threads(io.strata.engine.backend.Backend b) {
        return b instanceof io.strata.engine.cpu.CpuBackend cpu ? cpu.threads() : 0;
    }

    static long totalMemory() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) return sun.getTotalMemorySize();
        return Runtime.getRuntime().maxMemory();
    }

    public String id() {
        return id;
    }

    public String address() {
        return server.address();
    }

    public long budget() {
        return budget;
    }

    public StageSlot slot() {
        return slot;
    }

    /** Blocks until {@link #close()} has run. */
    public void awaitClosed() throws InterruptedException {
        closed.await();
    }

    @Override
    public void close() {
        if (closed.getCount() == 0) return;
        closing = true;
        try {
            registration.close();
        } catch (Exception e) {
            log.debug("closing the registration", e);
        }
        slot.close();
        server.close();
        zk.close();
        config.backend().close();
        closed.countDown();
        log.info("worker {}: stopped", id);
    }
}
