package io.strata.coordinator.scheduler;

import io.strata.coordinator.scheduler.PipelineExecutor.Batch;
import io.strata.coordinator.scheduler.PipelineExecutor.Row;
import io.strata.coordinator.scheduler.PipelineExecutor.SeqOutput;
import io.strata.coordinator.scheduler.Scheduler.FinishReason;
import io.strata.coordinator.scheduler.Scheduler.Rejected;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntPredicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scheduler over a real in-process pipeline of the 4-layer {@code small-Q4_0} fixture: batched, chunked and
 * pipelined generation gives exactly the tokens of a plain one-process run; the pipeline is kept full; prefill is
 * interleaved with decode; admission, queue bound, cancellation and failures behave.
 */
class SchedulerTest {

    static GgufFile file;
    static ModelConfig cfg;

    @BeforeAll
    static void open() {
        file = GgufFile.open(Fixtures.path("small/small-Q4_0.gguf"));
        cfg = ModelConfig.from(file);
    }

    @AfterAll
    static void close() {
        file.close();
    }

    static RecordingPipeline pipeline(int stages, int maxSequences, long totalPositions) {
        var opts = new LocalPipeline.Options(stages, KvType.F32, 256, maxSequences, totalPositions, 64);
        return new RecordingPipeline(LocalPipeline.start(file, opts, () -> new CpuBackend(1)));
    }

    /** Collects one sequence's tokens and how it ended. */
    static final class Collector implements Scheduler.Listener {
        final List<Integer> tokens = new ArrayList<>();
        final CompletableFuture<FinishReason> done = new CompletableFuture<>();
        final CountDownLatch firstToken = new CountDownLatch(1);
        volatile String error;
        IntPredicate keepGoing = t -> true;

        @Override
        public synchronized boolean onToken(int token, SeqOutput output) {
            tokens.add(token);
            firstToken.countDown();
            return keepGoing.test(token);
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
            done.complete(reason);
        }

        @Override
        public void onError(String message) {
            error = message;
            done.completeExceptionally(new IllegalStateException(message));
        }

        synchronized int[] ids() {
            return tokens.stream().mapToInt(Integer::intValue).toArray();
        }

        synchronized int count() {
            return tokens.size();
        }

        FinishReason await() throws Exception {
            return done.get(60, TimeUnit.SECONDS);
        }
    }

    static int[] prompt(int length, int salt) {
        int[] p = new int[length];
        p[0] = 312; // <|begin_of_text|>
        for (int i = 1; i < length; i++) p[i] = 1 + (i * 37 + salt * 101) % 300;
        return p;
    }

    static Scheduler.Request greedy(int[] prompt, int maxTokens) {
        return new Scheduler.Request("", prompt, maxTokens, Sampling.GREEDY, new int[0]);
    }

    @Test
    void batchedChunkedPipelinedTokensEqualOneProcessGreedy() throws Exception {
        int streams = 6;
        int n = 24;
        int[][] prompts = new int[streams][];
        for (int i = 0; i < streams; i++) prompts[i] = prompt(5 + 7 * i, i);
        try (RecordingPipeline p = pipeline(3, 8, 8 * 256); Scheduler s = new Scheduler(p, new Scheduler.Config(8, 16, 0))) {
            Collector[] c = new Collector[streams];
            for (int i = 0; i < streams; i++) {
                c[i] = new Collector();
                s.submit(greedy(prompts[i], n), c[i]);
            }
            for (int i = 0; i < streams; i++) {
                assertEquals(FinishReason.LENGTH, c[i].await(), "stream " + i);
                assertArrayEquals(EngineGreedy.generate(file, prompts[i], n, KvType.F32), c[i].ids(), "stream " + i);
            }
            // the work really was batched, chunked and pipelined
            assertEquals(3, p.maxInFlight.get(), "micro-batches in flight at once with 3 stages");
            assertTrue(p.batches.stream().anyMatch(b -> b.rows().size() > 1), "some step mixes sequences");
            for (Batch b : p.batches) {
                int prefill = 0;
                for (Row r : b.rows()) if (r.tokens().length > 1 || !r.sample()) prefill += r.tokens().length;
                assertTrue(prefill <= 8, "a step carries at most one prefill chunk budget: " + prefill);
            }
            assertEquals(streams, new HashSet<>(p.released).size(), "every sequence released");
            awaitTrue(() -> p.stages().stream().allMatch(st -> st.kvBytes() == 0), "KV caches freed on every stage");
        }
    }

    @Test
    void decodingStreamsAreSpreadOverOneMicroBatchPerStage() throws Exception {
        int streams = 6;
        try (RecordingPipeline p = pipeline(3, 8, 8 * 256); Scheduler s = new Scheduler(p, Scheduler.Config.defaults())) {
            Collector[] c = new Collector[streams];
            for (int i = 0; i < streams; i++) {
                c[i] = new Collector();
                s.submit(greedy(prompt(4, i), 40), c[i]);
            }
            for (Collector x : c) assertEquals(FinishReason.LENGTH, x.await());
            // once all six decode: no decode-only batch holds more than ceil(6/3) = 2 rows, and three are in flight
            int decodeOnly = 0;
            for (Batch b : p.batches) {
                boolean allDecode = b.rows().stream().allMatch(r -> r.tokens().length == 1 && r.start() >= 4);
                if (allDecode) {
                    decodeOnly++;
                    assertTrue(b.rows().size() <= 2, "decode batch of " + b.rows().size() + " rows");
                }
            }
            assertTrue(decodeOnly > 50, "decode batches: " + decodeOnly);
            assertEquals(3, p.maxInFlight.get());
        }
    }

    @Test
    void aLongPromptIsChunkedWhileRunningStreamsKeepGettingTokens() throws Exception {
        int length = 60;
        try (RecordingPipeline p = pipeline(2, 8, 8 * 256); Scheduler s = new Scheduler(p, new Scheduler.Config(16, 16, 0))) {
            Collector a = new Collector();
            Collector b = new Collector();
            Scheduler.Ticket ta = s.submit(greedy(prompt(3, 1), 250), a);
            Scheduler.Ticket tb = s.submit(greedy(prompt(3, 2), 250), b);
            assertTrue(a.firstToken.await(30, TimeUnit.SECONDS) && b.firstToken.await(30, TimeUnit.SECONDS));
            int[] longPrompt = prompt(length, 3);
            Collector late = new Collector();
            int before = a.count();
            s.submit(greedy(longPrompt, 2), late);
            assertEquals(FinishReason.LENGTH, late.await());
            int after = a.count();
            ta.cancel();
            tb.cancel();
            assertEquals(FinishReason.CANCELLED, a.await());
            assertEquals(FinishReason.CANCELLED, b.await());
            assertTrue(after > before + 3, "stream a advanced while the prompt was processed: " + before + " -> " + after);
            assertArrayEquals(EngineGreedy.generate(file, longPrompt, 2, KvType.F32), late.ids());
            // the prompt went in several chunks, none over the chunk size, each step carrying at most one chunk
            long lateSeq = p.batches.stream().flatMap(x -> x.rows().stream()).filter(r -> r.tokens().length > 3)
                    .mapToLong(Row::seq).findFirst().orElseThrow();
            List<Row> chunks = p.batches.stream().flatMap(x -> x.rows().stream()).filter(r -> r.seq() == lateSeq && r.start() < length).toList();
            assertTrue(chunks.size() >= length / 16, "chunks: " + chunks.size());
            for (Row r : chunks) assertTrue(r.tokens().length <= 16);
            assertEquals(length, chunks.stream().mapToInt(r -> r.tokens().length).sum());
            long mixed = p.batches.stream().filter(x -> x.rows().stream().anyMatch(r -> r.seq() == lateSeq && r.start() < length)
                    && x.rows().stream().anyMatch(r -> r.seq() != lateSeq)).count();
            assertTrue(mixed > 0, "prompt chunks rode along with decode rows");
        }
    }

    @Test
    void promptsThatArriveTogetherArePrefilledAtFullSpeedWhileTheFirstStreamsDecode() throws Exception {
        int streams = 8;
        int length = 20;
        try (RecordingPipeline p = pipeline(3, 8, 8 * 256); Scheduler s = new Scheduler(p, new Scheduler.Config(32, 16, 0))) {
            CompletableFuture<Void> hold = new CompletableFuture<>();
            p.hold = hold;  // no token comes back before every request has arrived
            p.paused = true;  // and no micro-batch leaves before the scheduler has taken them all in
            Collector[] c = new Collector[streams];
            for (int i = 0; i < streams; i++) {
                c[i] = new Collector();
                s.submit(greedy(prompt(length, i), 6), c[i]);
            }
            s.snapshot();  // runs on the scheduler thread after the eight submissions: all are queued now
            p.paused = false;
            s.snapshot();  // wakes the scheduler, which now fills the pipeline
            awaitTrue(() -> p.batches.size() == 3, "three micro-batches in flight");
            p.hold = null;
            hold.complete(null);
            for (int i = 0; i < streams; i++) assertEquals(FinishReason.LENGTH, c[i].await(), "stream " + i);
            assertArrayEquals(EngineGreedy.generate(file, prompt(length, 7), 6, KvType.F32), c[7].ids(), "the last prompt's tokens");
            // 160 prompt tokens in five full chunks of 32, though the first streams decode from the fourth batch on
            List<Integer> chunks = new ArrayList<>();
            boolean mixed = false;
            for (Batch b : p.batches) {
                int prompt = 0;
                boolean decode = false;
                for (Row r : b.rows()) {
                    if (r.start() < length) prompt += r.tokens().length;
                    else decode = true;
                }
                if (prompt > 0) chunks.add(prompt);
                mixed |= prompt > 0 && decode;
            }
            assertEquals(List.of(32, 32, 32, 32, 32), chunks);
            assertTrue(mixed, "a full prompt chunk rode with decode rows");
        }
    }

    @Test
    void aFullQueueRefusesWithRetryAfter() throws Exception {
        try (RecordingPipeline p = pipeline(1, 1, 256); Scheduler s = new Scheduler(p, new Scheduler.Config(256, 1, 1))) {
            Collector a = new Collector();
            s.submit(greedy(prompt(4, 1), 40), a);
            assertTrue(a.firstToken.await(30, TimeUnit.SECONDS));  // a is running: the one slot is taken
            Collector b = new Collector();
            s.submit(greedy(prompt(4, 2), 2), b);                 // waits in the queue (bound 1)
            Rejected r = assertThrows(Rejected.class, () -> s.submit(greedy(prompt(4, 3), 2), new Collector()));
            assertEquals(Rejected.Reason.QUEUE_FULL, r.reason());
            assertTrue(r.retryAfterSeconds() >= 1);
            assertEquals(FinishReason.LENGTH, a.await());
            assertEquals(FinishReason.LENGTH, b.await());
            assertEquals(1, s.rejectedQueueFull.sum());
        }
    }

    @Test
    void kvAdmissionNeverOvercommitsPositions() throws Exception {
        // 256 positions in all: each request needs 120 + 20 = 140, so only one can hold a cache at a time
        try (RecordingPipeline p = pipeline(2, 4, 256); Scheduler s = new Scheduler(p, Scheduler.Config.defaults())) {
            List<Collector> cs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Collector c = new Collector();
                cs.add(c);
                s.submit(greedy(prompt(120, i), 20), c);
            }
            for (Collector c : cs) assertEquals(FinishReason.LENGTH, c.await());
            assertEquals(1, p.maxLive.get(), "sequences holding a cache at once");
        }
    }

    @Test
    void cancellingAStreamReleasesItsCacheOnEveryStage() throws Exception {
        try (RecordingPipeline p = pipeline(3, 4, 4 * 256); Scheduler s = new Scheduler(p, Scheduler.Config.defaults())) {
            Collector a = new Collector();
            Scheduler.Ticket t = s.submit(greedy(prompt(6, 1), 240), a);
            assertTrue(a.firstToken.await(30, TimeUnit.SECONDS));
            assertTrue(p.stages().stream().allMatch(st -> st.kvBytes() > 0), "every stage holds the cache");
            t.cancel();
            assertEquals(FinishReason.CANCELLED, a.await());
            assertTrue(a.count() < 240);
            assertEquals(1, p.released.size());
            awaitTrue(() -> p.stages().stream().allMatch(st -> st.kvBytes() == 0), "KV caches freed on every stage");
            assertEquals(1, s.cancelled.sum());
        }
    }

    @Test
    void stopTokensAndListenersEndASequenceWithStop() throws Exception {
        int[] pr = prompt(8, 5);
        int[] ref = EngineGreedy.generate(file, pr, 12, KvType.F32);
        try (RecordingPipeline p = pipeline(2, 4, 4 * 256); Scheduler s = new Scheduler(p, Scheduler.Config.defaults())) {
            Collector byToken = new Collector();
            s.submit(new Scheduler.Request("", pr, 12, Sampling.GREEDY, new int[]{ref[5]}), byToken);
            assertEquals(FinishReason.STOP, byToken.await());
            int firstStop = 0;
            while (ref[firstStop] != ref[5]) firstStop++;
            assertArrayEquals(java.util.Arrays.copyOf(ref, firstStop), byToken.ids(), "the stop token is not passed on");

            Collector byListener = new Collector();
            byListener.keepGoing = tok -> byListener.count() < 3;
            s.submit(greedy(pr, 12), byListener);
            assertEquals(FinishReason.STOP, byListener.await());
            assertArrayEquals(java.util.Arrays.copyOf(ref, 3), byListener.ids());
        }
    }

    @Test
    void logprobsComeFromTheLastStage() throws Exception {
        try (RecordingPipeline p = pipeline(2, 4, 4 * 256); Scheduler s = new Scheduler(p, Scheduler.Config.defaults())) {
            List<SeqOutput> outs = new ArrayList<>();
            CompletableFuture<FinishReason> done = new CompletableFuture<>();
            s.submit(new Scheduler.Request("", prompt(5, 1), 4, new Sampling(0f, 1f, 0, 0, 0f, 0f, true, 3), new int[0]),
                    new Scheduler.Listener() {
                        public boolean onToken(int token, SeqOutput o) { outs.add(o); return true; }
                        public void onFinish(FinishReason r, int pt, int ct) { done.complete(r); }
                        public void onError(String m) { done.completeExceptionally(new IllegalStateException(m)); }
                    });
            assertEquals(FinishReason.LENGTH, done.get(60, TimeUnit.SECONDS));
            assertEquals(4, outs.size());
            for (SeqOutput o : outs) {
                assertEquals(3, o.top().size());
                assertEquals(o.token(), o.top().get(0).token(), "greedy picks the most likely token");
                assertEquals(o.logprob(), o.top().get(0).logprob(), 0f);
                assertTrue(o.logprob() <= 0 && o.top().get(1).logprob() <= o.top().get(0).logprob());
            }
        }
    }

    @Test
    void aNotReadyPipelineRefusesAndAFailingStepFailsItsSequences() throws Exception {
        try (RecordingPipeline p = pipeline(2, 4, 4 * 256); Scheduler s = new Scheduler(p, Scheduler.Config.defaults())) {
            p.ready = false;
            Rejected r = assertThrows(Rejected.class, () -> s.submit(greedy(prompt(4, 1), 4), new Collector()));
            assertEquals(Rejected.Reason.NOT_READY, r.reason());
            p.ready = true;
            assertThrows(IllegalArgumentException.class, () -> s.submit(greedy(prompt(200, 1), 100), new Collector()),
                    "prompt + max tokens over the context");
            Collector ok = new Collector();
            s.submit(greedy(prompt(4, 2), 4), ok);
            assertEquals(FinishReason.LENGTH, ok.await());
            p.failNext = "stage 1 (local-1, layers [2, 4)): injected failure";
            Collector doomed = new Collector();
            s.submit(greedy(prompt(4, 3), 4), doomed);
            assertThrows(Exception.class, doomed::await);
            assertTrue(doomed.error.contains("stage 1 (local-1"), doomed.error);
            assertEquals(2, p.released.size(), "the failed sequence is released too");
            assertEquals(1, s.failed.sum());
        }
    }

    @Test
    void aBrokenPipelineKeepsItsSequencesAndReplaysThemWhenReadyAgain() throws Exception {
        int[] pa = prompt(6, 7);
        int[] ref = EngineGreedy.generate(file, pa, 40, KvType.F32);
        int[] pc = prompt(5, 8);
        int[] refC = EngineGreedy.generate(file, pc, 6, KvType.F32);
        try (RecordingPipeline p = pipeline(3, 4, 4 * 256); Scheduler s = new Scheduler(p, Scheduler.Config.defaults())) {
            p.recoverable = true;
            Collector a = new Collector();
            Collector b = new Collector();
            CountDownLatch broken = new CountDownLatch(1);
            a.keepGoing = tok -> {
                if (a.count() == 5) {   // on the scheduler thread: the next step fails, as when a stage's worker dies
                    p.ready = false;
                    p.failNext = "stage 1 (local-1, layers [1, 3)): injected break";
                    broken.countDown();
                }
                return true;
            };
            s.submit(greedy(pa, 40), a);
            Scheduler.Ticket tb = s.submit(greedy(prompt(6, 9), 200), b);
            assertTrue(broken.await(30, TimeUnit.SECONDS));
            awaitTrue(s::recovering, "the scheduler waits for the pipeline");
            // Meanwhile: a new request is queued, not refused; a client that leaves frees its sequence at once.
            Collector c = new Collector();
            s.submit(greedy(pc, 6), c);
            tb.cancel();
            assertEquals(FinishReason.CANCELLED, b.await());
            assertTrue(s.recovering());
            assertFalse(a.done.isDone());
            p.ready = true;
            assertEquals(FinishReason.LENGTH, a.await());
            assertArrayEquals(ref, a.ids(), "the replayed stream: every token once, as an undisturbed run");
            assertEquals(FinishReason.LENGTH, c.await());
            assertArrayEquals(refC, c.ids());
            assertEquals(1, s.recoveries.sum());
            assertEquals(1, s.recoveredSequences.sum());
            assertEquals(0, s.failed.sum());
            awaitTrue(() -> p.stages().stream().allMatch(st -> st.kvBytes() == 0), "every cache freed, old ids included");
        }
    }

    /**
     * A seeded stream with penalties (temperature > 0, top-p) kept across a break: the replay's last stage starts its
     * sampler from the tokens generated before (penalty history, draw index), so the whole stream is the undisturbed
     * one-process stream.
     */
    @Test
    void aSeededPenalizedStreamKeptAcrossABreakIsTheUndisturbedStream() throws Exception {
        Sampling hot = new Sampling(0.9f, 0.95f, 0, 4321, 0.7f, 0.4f, false, 0);
        int[] pa = prompt(7, 3);
        int n = 24;
        int[] want = EngineGreedy.sample(file, pa, n, KvType.F32, LocalPipeline.params(hot, 256));
        try (RecordingPipeline p = pipeline(3, 4, 4 * 256); Scheduler s = new Scheduler(p, Scheduler.Config.defaults())) {
            p.recoverable = true;
            Collector a = new Collector();
            CountDownLatch broken = new CountDownLatch(1);
            a.keepGoing = tok -> {
                if (a.count() == 9) {
                    p.ready = false;
                    p.failNext = "stage 2 (local-2, layers [2, 4)): injected break";
                    broken.countDown();
                }
                return true;
            };
            s.submit(new Scheduler.Request("", pa, n, hot, new int[0]), a);
            assertTrue(broken.await(30, TimeUnit.SECONDS));
            awaitTrue(s::recovering, "the scheduler waits for the pipeline");
            p.ready = true;
            assertEquals(FinishReason.LENGTH, a.await());
            assertArrayEquals(want, a.ids(), "seeded, penalized: every token as an undisturbed run");
            assertEquals(1, s.recoveredSequences.sum());
            assertEquals(0, s.recoveryFailures.sum());
            // The replay's sampled prefill chunk told the last stage what had been generated; no other row did.
            List<PipelineExecutor.Row> told = new ArrayList<>();
            for (PipelineExecutor.Batch b : p.batches) for (PipelineExecutor.Row r : b.rows()) if (r.generated().length > 0) told.add(r);
            assertEquals(1, told.size());
            int k = told.get(0).generated().length;
            assertTrue(k >= 9 && k < n, "generated before the break: " + k);
            assertArrayEquals(java.util.Arrays.copyOf(want, k), told.get(0).generated());
            assertTrue(told.get(0).sample());
        }
    }

    @Test
    void keptSequencesFailWithTheReasonWhenThePipelineCannotComeBack() throws Exception {
        try (RecordingPipeline p = pipeline(2, 4, 4 * 256);
             Scheduler s = new Scheduler(p, Scheduler.Config.defaults().withRecoveryTimeout(java.time.Duration.ofSeconds(2)))) {
            p.recoverable = true;
            Collector late = new Collector();
            Collector early = new Collector();
            CountDownLatch broken = new CountDownLatch(1);
            early.keepGoing = tok -> {
                if (early.count() == 2) {
                    p.ready = false;
                    p.failNext = "stage 0 (local-0, layers [0, 2)): injected break";
                    broken.countDown();
                }
                return true;
            };
            s.submit(greedy(prompt(4, 1), 50), early);
            assertTrue(broken.await(30, TimeUnit.SECONDS));
            assertThrows(Exception.class, early::await);
            assertTrue(early.error.contains("injected break") && early.error.contains("kept to be retried")
                    && early.error.contains("within 2 s"), early.error);
            awaitTrue(() -> !s.recovering(), "recovery ended");
            // Told it cannot come back: kept sequences fail at once, with the reason.
            p.ready = true;
            late.keepGoing = tok -> {
                if (late.count() == 2) {
                    p.ready = false;
                    p.unrecoverable = "the model needs 3 MiB, the workers left offer 1 MiB";
                    p.failNext = "stage 1 (local-1, layers [2, 4)): injected break";
                }
                return true;
            };
            s.submit(greedy(prompt(4, 2), 50), late);
            assertThrows(Exception.class, late::await);
            assertTrue(late.error.contains("cannot serve the model: the model needs 3 MiB"), late.error);
            assertEquals(2, s.recoveryFailures.sum());
            assertEquals(0, s.recoveries.sum());
        }
    }

    @Test
    void seededSamplingWithPenaltiesIsTheEnginesSamplerBatchedOrNot() throws Exception {
        Sampling hot = new Sampling(0.9f, 0.95f, 0, 1234, 0.7f, 0.4f, true, 2);
        Sampling other = new Sampling(0.9f, 0.95f, 0, 99, 0f, 0f, false, 0);
        int[] pa = prompt(9, 1);
        int[] pb = prompt(6, 2);
        int n = 20;
        try (RecordingPipeline p = pipeline(3, 4, 4 * 256); Scheduler s = new Scheduler(p, new Scheduler.Config(4, 16, 0))) {
            Collector a = new Collector();
            Collector b = new Collector();
            Collector a2 = new Collector();
            s.submit(new Scheduler.Request("", pa, n, hot, new int[0]), a);
            s.submit(new Scheduler.Request("", pb, n, other, new int[0]), b);
            s.submit(new Scheduler.Request("", pa, n, hot, new int[0]), a2);
            for (Collector c : List.of(a, b, a2)) assertEquals(FinishReason.LENGTH, c.await());
            int[] wantA = EngineGreedy.sample(file, pa, n, KvType.F32, LocalPipeline.params(hot, 256));
            assertArrayEquals(wantA, a.ids(), "penalized seeded sampling, batched with others, equals one process");
            assertArrayEquals(wantA, a2.ids(), "the same seed gives the same tokens");
            assertArrayEquals(EngineGreedy.sample(file, pb, n, KvType.F32, LocalPipeline.params(other, 256)), b.ids());
            assertFalse(java.util.Arrays.equals(wantA, EngineGreedy.generate(file, pa, n, KvType.F32)), "not simply greedy");
        }
    }

    @Test
    void theQueueIsServedRoundRobinAcrossUsers() {
        FairQueue<String> q = new FairQueue<>();
        q.add("alice", "a1");
        q.add("alice", "a2");
        q.add("alice", "a3");
        q.add("bob", "b1");
        q.add("carol", "c1");
        q.add("bob", "b2");
        List<String> order = new ArrayList<>();
        while (q.size() > 0) order.add(q.poll());
        assertEquals(List.of("a1", "b1", "c1", "a2", "b2", "a3"), order);
        q.add("x", "x1");
        q.add("x", "x2");
        assertTrue(q.remove("x", "x1"));
        assertEquals("x2", q.peek());
        assertFalse(q.remove("y", "x2"));
    }

    @Test
    void histogramQuantilesInterpolateInsideBuckets() {
        LatencyHistogram h = new LatencyHistogram(0.01, 0.02, 0.04);
        for (int i = 0; i < 50; i++) h.observeNanos(5_000_000);    // 5 ms
        for (int i = 0; i < 50; i++) h.observeNanos(30_000_000);   // 30 ms
        assertEquals(100, h.count());
        assertEquals(0.01, h.quantile(0.5), 1e-9);
        assertEquals(0.02 + 0.02 * 49.0 / 50, h.quantile(0.99), 1e-9);
        assertArrayEquals(new long[]{50, 50, 100, 100}, h.cumulative());
        assertEquals(0.5 * 0.005 * 100 + 0.5 * 0.03 * 100, h.sumSeconds(), 1e-9);
    }

    static void awaitTrue(java.util.function.BooleanSupplier cond, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("not within 10 s: " + what);
            Thread.onSpinWait();
            Thread.sleep(1);
        }
    }
}
