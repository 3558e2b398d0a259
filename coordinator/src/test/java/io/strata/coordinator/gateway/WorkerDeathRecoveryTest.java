package io.strata.coordinator.gateway;

import io.strata.coordinator.Coordinator;
import io.strata.coordinator.scheduler.ClusterPipeline;
import io.strata.coordinator.scheduler.EngineGreedy;
import io.strata.coordinator.scheduler.PipelineExecutor;
import io.strata.coordinator.scheduler.Sampling;
import io.strata.coordinator.scheduler.Scheduler;
import io.strata.engine.backend.KvType;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.testing.Fixtures;
import io.strata.worker.testing.WorkerProcesses;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * No request lost when a worker dies, for real: an embedded ZooKeeper, worker JVMs on loopback gRPC, a coordinator
 * and the scheduler in this JVM. A stage's worker is killed with SIGKILL while a greedy stream and a seeded one with
 * frequency/presence penalties run; both must pause and go on, their tokens exactly the one-process engine's (none
 * repeated, none missing, the same seeded draws), and the recovery must be counted on {@code /metrics}. When no pipeline can come back, the kept request fails with a message saying what
 * happened, within the recovery timeout.
 */
class WorkerDeathRecoveryTest {
    static final Path MODEL = Fixtures.path("small/small-Q4_0.gguf");
    static final int CTX = 128;

    static TestingServer zk;
    static WorkerProcesses procs;
    static int[] prompt;
    static int[] want;   // the one-process engine's greedy continuation, CTX - prompt.length tokens
    static final Sampling HOT = new Sampling(0.9f, 0.95f, 0, 777, 0.7f, 0.4f, false, 0);
    static int[] wantHot; // the one-process engine's tokens for HOT, as many

    @BeforeAll
    static void start() throws Exception {
        prompt = Fixtures.ints(Fixtures.index().get("models").get("small").get("logits_ids"));
        try (GgufFile f = GgufFile.open(MODEL)) {
            want = EngineGreedy.generate(f, prompt, CTX - prompt.length, KvType.F16);
            wantHot = EngineGreedy.sample(f, prompt, want.length, KvType.F16, io.strata.coordinator.scheduler.LocalPipeline.params(HOT, CTX));
        }
        zk = new TestingServer(true);
        procs = new WorkerProcesses();
    }

    @AfterAll
    static void stop() throws Exception {
        if (procs != null) procs.close();
        if (zk != null) zk.close();
    }

    /** Token ids as the scheduler hands them to a stream, with the order of calls checked. */
    static final class Stream implements Scheduler.Listener {
        final List<Integer> tokens = new ArrayList<>();
        final CompletableFuture<Scheduler.FinishReason> done = new CompletableFuture<>();
        final CompletableFuture<Void> third = new CompletableFuture<>();
        volatile int completionTokens = -1;

        @Override
        public synchronized boolean onToken(int token, PipelineExecutor.SeqOutput output) {
            if (done.isDone()) throw new IllegalStateException("a token after the end");
            tokens.add(token);
            if (tokens.size() == 3) third.complete(null);
            return true;
        }

        @Override
        public void onFinish(Scheduler.FinishReason reason, int promptTokens, int completionTokens) {
            this.completionTokens = completionTokens;
            done.complete(reason);
        }

        @Override
        public void onError(String message) {
            done.completeExceptionally(new IllegalStateException(message));
        }

        synchronized int[] ids() {
            return tokens.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    static Scheduler.Request greedy(int n) {
        return new Scheduler.Request("", prompt, n, Sampling.GREEDY, new int[0]);
    }

    @Test
    void aStreamSurvivesTheSigkillOfAStageWorkerAndGivesTheUndisturbedTokens() throws Exception {
        // Three workers in the plan and a spare: without the victim the model is placed again on the other three.
        List<WorkerProcesses.Handle> hs = new ArrayList<>();
        for (String id : List.of("w0", "w-victim", "w2", "w-spare")) hs.add(procs.start(zk.getConnectString(), id, MODEL.getParent(), 256L << 20));
        WorkerProcesses.Handle victim = hs.get(1);
        PinnedPlan.store(zk.getConnectString(), MODEL, hs, CTX, 2, "f16", 16, 0, 1, 3, 4);   // the victim holds the middle stage
        try (Coordinator c = new Coordinator(new Coordinator.Config(zk.getConnectString(), "/strata", "c-recover", MODEL, CTX, 2, "f16",
                "f32", 16, 1, 0, false, 4000))) {
            c.awaitReady(Duration.ofSeconds(90));
            assertEquals("w-victim", c.plan().stages().get(1).workerId(), c.plan().describe());
            try (Scheduler s = new Scheduler(new ClusterPipeline(c), Scheduler.Config.defaults())) {
                StatusReport status = new StatusReport("m", s);
                Stream stream = new Stream();
                Stream hot = new Stream();
                s.submit(greedy(want.length), stream);
                s.submit(new Scheduler.Request("", prompt, wantHot.length, HOT, new int[0]), hot);
                stream.third.get(60, TimeUnit.SECONDS);
                hot.third.get(60, TimeUnit.SECONDS);
                victim.process().destroyForcibly();   // SIGKILL, mid-stream
                // The scheduler keeps the stream and waits for the new pipeline; meanwhile the cluster is not ready, and
                // a request that arrives now waits in the queue instead of being refused.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (!s.recovering() && s.recoveries.sum() == 0 && System.nanoTime() < deadline) Thread.sleep(1);
                Stream late = null;
                if (s.recovering()) {
                    late = new Stream();
                    s.submit(greedy(8), late);
                }
                assertEquals(Scheduler.FinishReason.LENGTH, stream.done.get(120, TimeUnit.SECONDS));
                assertArrayEquals(want, stream.ids(), "the stream across the worker's death: every token once, in order, as one process gives");
                assertEquals(want.length, stream.completionTokens);
                // Seeded, penalized: the new last stage starts from the tokens generated before (penalties, draw index).
                assertEquals(Scheduler.FinishReason.LENGTH, hot.done.get(60, TimeUnit.SECONDS));
                assertArrayEquals(wantHot, hot.ids(), "the seeded penalized stream across the worker's death, as one process gives");
                assertFalse(java.util.Arrays.equals(want, wantHot), "not simply greedy");
                assertEquals(1, s.recoveries.sum(), "one recovery");
                assertEquals(2, s.recoveredSequences.sum(), "both sequences replayed");
                assertEquals(0, s.failed.sum());
                assertNull(c.plan().stageOf("w-victim"), "re-placed without the victim: " + c.plan().describe());
                assertTrue(late != null, "the scheduler was seen recovering");
                assertEquals(Scheduler.FinishReason.LENGTH, late.done.get(60, TimeUnit.SECONDS));
                assertArrayEquals(java.util.Arrays.copyOf(want, 8), late.ids(), "a request queued during the recovery");
                String metrics = status.prometheus();
                assertTrue(metrics.contains("strata_recoveries_total 1"), metrics);
                assertTrue(metrics.contains("strata_recovered_sequences_total 2"), metrics);
                assertTrue(metrics.contains("strata_recovering 0"), metrics);
            }
        }
    }

    @Test
    void aKeptRequestFailsWithTheReasonWhenNoPipelineComesBackInTime() throws Exception {
        // A cluster of its own (another ZooKeeper root) with a single worker: once it is killed nothing can hold the model.
        String root = "/strata-alone";
        WorkerProcesses.Handle solo = procs.start(zk.getConnectString(), "w-solo", MODEL.getParent(), 256L << 20, "--root", root);
        try (Coordinator c = new Coordinator(new Coordinator.Config(zk.getConnectString(), root, "c-alone", MODEL, CTX, 2, "f16", "f32",
                16, 1, 0, false, 4000))) {
            c.awaitReady(Duration.ofSeconds(90));
            Duration timeout = Duration.ofSeconds(5);
            try (Scheduler s = new Scheduler(new ClusterPipeline(c), Scheduler.Config.defaults().withRecoveryTimeout(timeout))) {
                Stream stream = new Stream();
                s.submit(greedy(want.length), stream);
                stream.third.get(60, TimeUnit.SECONDS);
                long killed = System.nanoTime();
                solo.process().destroyForcibly();
                ExecutionException e = assertThrows(ExecutionException.class, () -> stream.done.get(60, TimeUnit.SECONDS));
                long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - killed);
                String msg = e.getCause().getMessage();
                assertTrue(msg.contains("w-solo"), "names the dead worker: " + msg);
                assertTrue(msg.contains("kept to be retried"), "says it was retried: " + msg);
                assertTrue(msg.contains("within 5 s"), "says how long it waited: " + msg);
                assertTrue(seconds < timeout.toSeconds() + 10, "failed after " + seconds + " s");
                assertEquals(1, s.recoveryFailures.sum());
                assertEquals(0, s.recoveries.sum());
                assertFalse(s.recovering());
                int[] got = stream.ids();
                assertArrayEquals(java.util.Arrays.copyOf(want, got.length), got, "the tokens sent before the failure");
            }
        }
    }
}
