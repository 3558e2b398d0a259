package io.strata.coordinator;

import io.strata.engine.sample.StageSampling;
import io.strata.coordinator.zk.PlanStore;
import io.strata.coordinator.zk.ZkRecords;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.testing.Fixtures;
import io.strata.worker.testing.WorkerProcesses;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cluster for real: an embedded ZooKeeper, worker processes (separate JVMs on loopback TCP) and coordinators in
 * this JVM. A model split over 1 to 4 stages, even and uneven, must give the single-process engine's logits and
 * greedy tokens bit for bit; failures must surface as clear errors, never hangs.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterTest {
    static final Path MODEL = Fixtures.path("small/small-Q4_0.gguf");
    static final int CTX = 128;
    static final int DECODE = 12;
    static final String[] IDS = {"w0", "w1", "w2", "w3"};

    static TestingServer zkServer;
    static WorkerProcesses procs;
    static final List<WorkerProcesses.Handle> workers = new ArrayList<>();
    static CuratorFramework zk;
    static ModelConfig cfg;
    static int[] prompt;
    static float[] wantPromptLogits;   // [prompt.length][vocab]
    static int[] wantTokens;           // greedy continuation
    static float[][] wantStepLogits;   // logits each greedy token was picked from
    static long planVersion = 100;

    @BeforeAll
    static void start() throws Exception {
        zkServer = new TestingServer(true);
        zk = CuratorFrameworkFactory.builder().connectString(zkServer.getConnectString()).namespace("strata")
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000)).build();
        zk.start();
        prompt = Fixtures.ints(Fixtures.index().get("models").get("small").get("logits_ids"));
        reference();
        procs = new WorkerProcesses();
        for (String id : IDS) workers.add(procs.start(zkServer.getConnectString(), id, MODEL.getParent(), 256L << 20));
    }

    @AfterAll
    static void stop() throws Exception {
        if (procs != null) procs.close();
        if (zk != null) zk.close();
        if (zkServer != null) zkServer.close();
    }

    /** The single-process engine: all layers in one stage, in this JVM. */
    static void reference() {
        try (GgufFile f = GgufFile.open(MODEL); CpuBackend be = new CpuBackend(1)) {
            cfg = ModelConfig.from(f);
            Stage s = Stage.load(f, cfg, 0, cfg.layers(), be, 16);
            try (KvCache cache = s.newCache(CTX, KvType.F16)) {
                wantPromptLogits = new float[prompt.length * cfg.vocab()];
                s.forward(Step.ofSequence(prompt, 0, cache, true), wantPromptLogits);
                wantTokens = new int[DECODE];
                wantStepLogits = new float[DECODE][];
                float[] last = java.util.Arrays.copyOfRange(wantPromptLogits, (prompt.length - 1) * cfg.vocab(), prompt.length * cfg.vocab());
                int pos = prompt.length;
                for (int i = 0; i < DECODE; i++) {
                    wantStepLogits[i] = last;
                    wantTokens[i] = argmax(last);
                    last = new float[cfg.vocab()];
                    s.forward(Step.ofSequence(new int[]{wantTokens[i]}, pos++, cache, false), last);
                }
            }
        }
    }

    static int argmax(float[] a) {
        int b = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
        return b;
    }

    static Coordinator.Config config(String id, int minWorkers) {
        return config(id, minWorkers, "f32");
    }

    static Coordinator.Config config(String id, int minWorkers, String activations) {
        return new Coordinator.Config(zkServer.getConnectString(), "/strata", id, MODEL, CTX, 2, "f16", activations, 16, minWorkers,
                0, true, 4000);
    }

    /** Stores a plan with the given ranges (as an earlier leader would have), for the coordinator to take over. */
    static void pin(int... bounds) throws Exception {
        pin(workers, bounds);
    }

    static void pin(List<WorkerProcesses.Handle> on, int... bounds) throws Exception {
        pin(on, "f32", bounds);
    }

    static void pin(List<WorkerProcesses.Handle> on, String activations, int... bounds) throws Exception {
        try (GgufFile f = GgufFile.open(MODEL)) {
            var profile = io.strata.coordinator.placement.ModelProfile.of(MODEL.getFileName().toString(), f, CTX, 2, "f16", 16);
            List<Plan.Stage> stages = new ArrayList<>();
            for (int i = 0; i + 1 < bounds.length; i++) {
                WorkerProcesses.Handle w = on.get(i);
                stages.add(new Plan.Stage(i, w.id(), w.address(), bounds[i], bounds[i + 1], profile.weightBytes(bounds[i], bounds[i + 1]),
                        profile.kvBytes(bounds[i], bounds[i + 1]), 0));
            }
            // Checksums are left out here; the coordinator's own plans carry them (see standbyTakesOver...).
            if (zk.checkExists().forPath(PlanStore.PATH) != null) {
                planVersion = Math.max(planVersion, ZkRecords.planRecord(zk.getData().forPath(PlanStore.PATH)).getVersion());
            }
            Plan p = new Plan(++planVersion, "test", MODEL.getFileName().toString(), f.fingerprint(), null, CTX, 2, "f16", activations, 16,
                    List.copyOf(stages), 0);
            byte[] json = ZkRecords.json(ZkRecords.record(p));
            if (zk.checkExists().forPath(PlanStore.PATH) == null) zk.create().forPath(PlanStore.PATH, json);
            else zk.setData().forPath(PlanStore.PATH, json);
        }
    }

    void checkBitIdentical(Coordinator c, String what) throws Exception {
        Pipeline p = c.awaitReady(Duration.ofSeconds(60));
        long seq = 7;
        Pipeline.StepResult r = p.submit(List.of(new Pipeline.SeqStep(seq, 0, prompt, true, StageSampling.GREEDY, true, 3, true)))
                .get(60, TimeUnit.SECONDS);
        assertTrue(r.errors().isEmpty(), what + ": " + r.errors());
        assertArrayEquals(wantPromptLogits, r.output(seq).logits(), what + ": prompt logits");
        int token = r.output(seq).token();
        for (int i = 0; i < DECODE; i++) {
            assertEquals(wantTokens[i], token, what + ": greedy token " + i);
            Pipeline.StepResult d = p.submit(List.of(new Pipeline.SeqStep(seq, prompt.length + i, new int[]{token}, true,
                    StageSampling.GREEDY, false, 0, true))).get(60, TimeUnit.SECONDS);
            if (i + 1 < DECODE) assertArrayEquals(wantStepLogits[i + 1], d.output(seq).logits(), what + ": logits of step " + (i + 1));
            token = d.output(seq).token();
        }
        p.release(seq).get(30, TimeUnit.SECONDS);

        // The same through the generation driver.
        try (Generator g = new Generator(c::pipeline, Duration.ofSeconds(60))) {
            Generator.Result res = g.generate(Generator.Request.greedy(prompt, DECODE), null);
            assertArrayEquals(wantTokens, res.tokens(), what + ": generated tokens");
            assertEquals("length", res.finishReason());
        }
    }

    @Test
    @Order(1)
    void splitsOverOneToFourStagesAreBitIdenticalToOneProcess() throws Exception {
        int[][] layouts = {
                {0, 4},           // 1 stage
                {0, 2, 4},        // 2 even
                {0, 1, 4},        // 2 uneven: 1 + 3
                {0, 1, 2, 4},     // 3 stages
                {0, 1, 2, 3, 4},  // 4 stages
        };
        for (int[] layout : layouts) {
            pin(layout);
            try (Coordinator c = new Coordinator(config("c-split", 1))) {
                checkBitIdentical(c, "layout " + java.util.Arrays.toString(layout));
                assertEquals(planVersion, c.plan().version(), "the coordinator took over the stored plan");
            }
        }
    }

    @Test
    @Order(2)
    void halfPrecisionActivationsStayCloseToTheExactLogits() throws Exception {
        for (String dtype : List.of("f16", "bf16")) {
            pin(workers, dtype, 0, 2, 4);
            try (Coordinator c = new Coordinator(config("c-" + dtype, 1, dtype))) {
                Pipeline p = c.awaitReady(Duration.ofSeconds(60));
                Pipeline.StepResult r = p.submit(List.of(new Pipeline.SeqStep(1, 0, prompt, true, StageSampling.GREEDY, false, 0, true)))
                        .get(60, TimeUnit.SECONDS);
                float[] got = r.output(1).logits();
                double se = 0;
                double ss = 0;
                for (int i = 0; i < got.length; i++) {
                    se += (got[i] - wantPromptLogits[i]) * (double) (got[i] - wantPromptLogits[i]);
                    ss += wantPromptLogits[i] * (double) wantPromptLogits[i];
                }
                double rel = Math.sqrt(se / ss);
                // One rounding of the hidden state between the stages (f16 keeps 11 significant bits, bf16 8), which
                // the Q8 activation rounding inside the next stage's matmuls amplifies: relative RMS error of the logits (a
                // codec bug, e.g. a byte-order slip, gives errors of order 1).
                double bound = dtype.equals("f16") ? 0.03 : 0.1;
                assertTrue(rel <= bound && rel > 0, dtype + ": relative RMS error of the logits " + rel);
                p.release(1).get(30, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    @Order(2)
    void aWorkerHoldingOneLayerPagesInOnlyItsShard() throws Exception {
        pin(0, 1, 2, 3, 4);
        try (Coordinator c = new Coordinator(config("c-rss", 1))) {
            c.awaitReady(Duration.ofSeconds(60));
            var channel = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder.forTarget(workers.get(1).address()).usePlaintext().build();
            try {
                var stub = io.strata.proto.v1.WorkerControlGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
                stub.hello(io.strata.proto.v1.Hello.newBuilder().setProtocolVersion(1).setCaller("test").build());
                var s = stub.status(io.strata.proto.v1.StatusRequest.getDefaultInstance());
                long file = Files.size(MODEL);
                // Linux counts the maps' resident pages (the model file's and the interleaved copies'); fault-around may
                // add a few neighbouring pages. The upper bound fails if the worker kept the file's pages of weights it
                // reads from copies, or the copies of the ranges it loaded before (it has loaded several by now).
                assertTrue(s.getModelResidentBytes() >= s.getWeightBytes() * 9 / 10, s.toString());
                assertTrue(s.getModelResidentBytes() <= s.getWeightBytes() + (512 << 10), s.toString());
                assertTrue(s.getModelResidentBytes() < file / 3, "resident " + s.getModelResidentBytes() + " of a " + file + "-byte file");
            } finally {
                channel.shutdownNow();
            }
        }
    }

    @Test
    @Order(3)
    void aStandbyTakesOverTheRunningClusterWithoutReloading() throws Exception {
        clearPlan();
        Coordinator a = new Coordinator(config("c-a", 4));
        Coordinator b = null;
        try {
            a.awaitReady(Duration.ofSeconds(60));
            b = new Coordinator(config("c-b", 4));
            assertTrue(a.isLeader());
            assertTrue(!b.isLeader());
            assertTrue(b.awaitReason(r -> r.contains("standby"), Duration.ofSeconds(10)).contains("standby"));
            NotReadyException standby = assertThrows(NotReadyException.class, b::pipeline);
            assertTrue(standby.getMessage().contains("standby"), standby.getMessage());
            Plan placed = a.plan();
            List<Long> loads = loads();
            a.close();
            Pipeline p = b.awaitReady(Duration.ofSeconds(30));
            assertEquals(placed.version(), b.plan().version());
            assertEquals(loads, loads(), "no worker reloaded its layers");
            try (Generator g = new Generator(b::pipeline, Duration.ofSeconds(60))) {
                assertArrayEquals(wantTokens, g.generate(Generator.Request.greedy(prompt, DECODE), null).tokens());
            }
            assertNull(p.brokenReason());
        } finally {
            a.close();
            if (b != null) b.close();
        }
    }

    static void clearPlan() throws Exception {
        if (zk.checkExists().forPath(PlanStore.PATH) != null) {
            // Plans stored by the tests' coordinators count too: a later pinned plan must not reuse their version,
            // since workers that already hold a stage of that version take a same-version assignment as a no-op.
            planVersion = Math.max(planVersion, ZkRecords.planRecord(zk.getData().forPath(PlanStore.PATH)).getVersion());
            zk.delete().forPath(PlanStore.PATH);
        }
    }

    static List<Long> loads() throws Exception {
        List<Long> out = new ArrayList<>();
        for (WorkerProcesses.Handle w : workers) {
            var channel = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder.forTarget(w.address()).usePlaintext().build();
            try {
                var stub = io.strata.proto.v1.WorkerControlGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
                stub.hello(io.strata.proto.v1.Hello.newBuilder().setProtocolVersion(1).setCaller("test").build());
                out.add(stub.status(io.strata.proto.v1.StatusRequest.getDefaultInstance()).getLoads());
            } finally {
                channel.shutdownNow();
            }
        }
        return out;
    }

    @Test
    @Order(4)
    void aRequestWithoutAReadyPipelineFailsAtOnceWithTheReason() throws Exception {
        clearPlan();
        try (Coordinator c = new Coordinator(config("c-wait", 9)); Generator g = new Generator(c::pipeline, Duration.ofSeconds(10))) {
            long t0 = System.nanoTime();
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> g.submit(Generator.Request.greedy(prompt, 4), null).get(5, TimeUnit.SECONDS));
            assertInstanceOf(NotReadyException.class, e.getCause());
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
            // The reason becomes specific once the coordinator has seen the workers.
            String why = c.awaitReason(r -> r.contains("waiting for workers: 4 of at least 9"), Duration.ofSeconds(30));
            assertTrue(why.contains("waiting for workers: 4 of at least 9"), why);
            ExecutionException again = assertThrows(ExecutionException.class,
                    () -> g.submit(Generator.Request.greedy(prompt, 4), null).get(5, TimeUnit.SECONDS));
            assertTrue(again.getCause().getMessage().contains("waiting for workers: 4 of at least 9"), again.getCause().getMessage());
        }
    }

    @Test
    @Order(5)
    void aKilledWorkerFailsTheRequestWithAClearErrorAndTheClusterReplans() throws Exception {
        clearPlan();
        WorkerProcesses.Handle victim = procs.start(zkServer.getConnectString(), "w-victim", MODEL.getParent(), 256L << 20);
        pin(List.of(workers.get(0), victim), 0, 2, 4);
        try (Coordinator c = new Coordinator(config("c-kill", 1)); Generator g = new Generator(c::pipeline, Duration.ofSeconds(60))) {
            c.awaitReady(Duration.ofSeconds(60));
            Plan plan = c.plan();
            assertEquals("w-victim", plan.last().workerId(), plan.describe());
            // A long generation; the victim dies (SIGKILL) after the third token, while the request runs.
            int[] seen = {0};
            CompletableFuture<Generator.Result> f = g.submit(Generator.Request.greedy(prompt, CTX - prompt.length),
                    (id, lp, top, tlp) -> {
                        if (++seen[0] == 3) victim.kill();
                    });
            ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(30, TimeUnit.SECONDS));
            String msg = e.getCause().getMessage();
            assertInstanceOf(PipelineException.class, e.getCause());
            assertTrue(msg.contains("w-victim"), msg);
            assertThrows(PipelineException.class, c::pipeline);
            // Without the victim the model still fits on the other four: the coordinator places it again.
            Pipeline again = c.awaitReady(Duration.ofSeconds(60));
            assertTrue(c.plan().stageOf("w-victim") == null, c.plan().describe());
            try (Generator g2 = new Generator(() -> again, Duration.ofSeconds(60))) {
                assertArrayEquals(wantTokens, g2.generate(Generator.Request.greedy(prompt, DECODE), null).tokens());
            }
        }
    }
}
