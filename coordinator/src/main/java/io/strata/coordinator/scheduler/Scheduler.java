package io.strata.coordinator.scheduler;

import io.strata.coordinator.scheduler.PipelineExecutor.Batch;
import io.strata.coordinator.scheduler.PipelineExecutor.KvLimits;
import io.strata.coordinator.scheduler.PipelineExecutor.Result;
import io.strata.coordinator.scheduler.PipelineExecutor.Row;
import io.strata.coordinator.scheduler.PipelineExecutor.SeqFailure;
import io.strata.coordinator.scheduler.PipelineExecutor.SeqOutput;
import io.strata.coordinator.scheduler.PipelineExecutor.StageTime;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Continuous batching over a {@link PipelineExecutor}.
 *
 * <p>One thread owns every piece of state and reacts to events (a request arrives, a step comes back, a client goes
 * away). At each step boundary it builds the next micro-batch from: one decode row per running sequence that is not
 * already in flight, a prompt chunk of sequences still in prefill, and newly admitted requests. It keeps up to
 * {@link PipelineExecutor#depth()} micro-batches in flight, spreading the decoding sequences over them
 * ({@code ceil(decoding / depth)} rows each), so with N stages that can compute at once and N or more streams every
 * stage has work.
 *
 * <p>Prefill is chunked (at most {@link Config#prefillChunk()} prompt tokens per micro-batch) and, while streams are
 * decoding, limited further so one chunk delays a decode cycle by at most {@link #PREFILL_STRETCH} of the measured
 * inter-token time: running streams keep flowing while a long prompt is processed. The chunk size comes from the
 * stages' measured compute per prompt token. With no stream decoding, chunks go at full size and successive chunks of
 * one prompt are pipelined through the stages; so do the prompts that were already waiting when the current decoding
 * period's first token arrived (a burst of requests sent together), until a sequence ends.
 *
 * <p>Admission: a request waits in a bounded {@link FairQueue} (round-robin across users) until a KV cache slot and
 * enough positions ({@code prompt + max tokens}) are free; a full queue refuses at once ({@link Rejected}). Nothing
 * is admitted that the KV limits cannot hold, so nothing runs out of cache memory. A cancelled sequence's cache is
 * released as soon as no step holding it is in flight.
 *
 * <p>Recovery: when a step fails as a whole and the executor says the failure is one it can recover from
 * ({@link PipelineExecutor#recoverable}: the cluster lost a worker and re-places the model), the running sequences are
 * kept (prompt, the tokens already passed to the listener, sampling parameters) instead of failed. Nothing is
 * scheduled until every step of the broken pipeline has come back and the executor is ready again; then each kept
 * sequence gets a new id and its prompt plus generated tokens are prefilled again, after which it goes on decoding
 * where it stopped: its listener sees a pause, never a repeated or missing token. The replay's sampled prefill row
 * carries the tokens generated before ({@link Row#generated()}), from which the new last stage's sampler restores the
 * penalty history and the index of the next seeded draw: the stream goes on as an undisturbed one. Waiting is bounded by
 * {@link Config#recoveryTimeout()}, and ends early when the executor says it cannot recover
 * ({@link PipelineExecutor#unrecoverable}); the kept sequences then fail with a message saying so.
 */
public final class Scheduler implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(Scheduler.class.getName());

    /** A prompt chunk may lengthen one decode cycle by at most this fraction of the measured inter-token time. */
    static final double PREFILL_STRETCH = 0.35;
    /** Chunk size while streams decode and the prefill cost is not measured yet. */
    static final int PROBE_CHUNK = 16;
    /** Weight of a new sample in the moving averages. */
    private static final double EWMA = 0.2;

    /**
     * Settings.
     *
     * @param prefillChunk most prompt tokens per micro-batch (default 256)
     * @param maxQueued    requests waiting for admission before new ones are refused with 429 (default 64)
     * @param maxRunning   sequences running at once; 0 = as many as the KV limits allow
     * @param recoveryTimeout how long running sequences are kept for replay while the pipeline is broken (default 60 s)
     */
    public record Config(int prefillChunk, int maxQueued, int maxRunning, java.time.Duration recoveryTimeout) {
        public static final java.time.Duration DEFAULT_RECOVERY_TIMEOUT = java.time.Duration.ofSeconds(60);

        public Config {
            if (prefillChunk < 1 || maxQueued < 0 || maxRunning < 0 || recoveryTimeout == null || recoveryTimeout.isNegative()) {
                throw new IllegalArgumentException("bad scheduler config: prefill chunk " + prefillChunk + ", queue " + maxQueued
                        + ", running " + maxRunning + ", recovery timeout " + recoveryTimeout);
            }
        }

        public Config(int prefillChunk, int maxQueued, int maxRunning) {
            this(prefillChunk, maxQueued, maxRunning, DEFAULT_RECOVERY_TIMEOUT);
        }

        public Config withRecoveryTimeout(java.time.Duration timeout) {
            return new Config(prefillChunk, maxQueued, maxRunning, timeout);
        }

        public static Config defaults() {
            return new Config(256, 64, 0);
        }
    }

    /**
     * A generation to run.
     *
     * @param user       fairness key (OpenAI {@code user}, else the API key, else empty)
     * @param prompt     prompt token ids, taken as given
     * @param maxTokens  most tokens to generate (the sequence then ends with {@link FinishReason#LENGTH})
     * @param sampling   how the last stage samples
     * @param stopTokens tokens that end the sequence (end-of-generation ids); they are not passed to the listener
     */
    public record Request(String user, int[] prompt, int maxTokens, Sampling sampling, int[] stopTokens) {
        public Request {
            if (prompt.length == 0) throw new IllegalArgumentException("the prompt must hold at least one token");
            if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be at least 1: " + maxTokens);
            stopTokens = stopTokens.clone();
            Arrays.sort(stopTokens);
        }
    }

    public enum FinishReason {STOP, LENGTH, CANCELLED}

    /** Receives a sequence's tokens. Called on the scheduler thread, in order: keep each call short and non-blocking. */
    public interface Listener {
        /** The next token; return false to end the sequence here (finish reason {@link FinishReason#STOP}). */
        boolean onToken(int token, SeqOutput output);

        /** The sequence ended; its KV cache is released. */
        void onFinish(FinishReason reason, int promptTokens, int completionTokens);

        /** The sequence failed (a stage failed or refused it); its KV cache is released. */
        void onError(String message);
    }

    /** A submitted request; {@link #cancel()} ends it (a client went away). */
    public interface Ticket {
        void cancel();
    }

    /** Why a request was refused at once. */
    public static final class Rejected extends Exception {
        public enum Reason {QUEUE_FULL, NOT_READY}

        private final Reason reason;
        private final long retryAfterSeconds;

        Rejected(Reason reason, String message, long retryAfterSeconds) {
            super(message);
            this.reason = reason;
            this.retryAfterSeconds = retryAfterSeconds;
        }

        public Reason reason() {
            return reason;
        }

        public long retryAfterSeconds() {
            return retryAfterSeconds;
        }
    }

    /** Per-stage moving averages of what the stages report. */
    public record StageLoad(int stage, double computeMs, double queuedMs, long steps) {}

    /** A consistent view for the dashboard and metrics. */
    public record Snapshot(int queued, int running, int decoding, int inFlight, int depth, long kvReservedPositions,
                           KvLimits kv, double tokensPerSecond, double interTokenMs, double prefillMsPerToken,
                           List<StageLoad> stages) {}

    private final PipelineExecutor pipeline;
    private final Config config;
    private final BlockingQueue<Runnable> events = new LinkedBlockingQueue<>();
    private final Thread loop;
    private final AtomicLong nextSeq = new AtomicLong(1);
    private final AtomicInteger queuedCount = new AtomicInteger();
    private volatile boolean closed;

    // Counters and histograms, readable from any thread.
    public final LongAdder requests = new LongAdder();
    public final LongAdder rejectedQueueFull = new LongAdder();
    public final LongAdder finished = new LongAdder();
    public final LongAdder cancelled = new LongAdder();
    public final LongAdder failed = new LongAdder();
    public final LongAdder promptTokens = new LongAdder();
    public final LongAdder generatedTokens = new LongAdder();
    /** Times the pipeline broke and the kept sequences were replayed on a new one. */
    public final LongAdder recoveries = new LongAdder();
    /** Sequences replayed on a new pipeline (a sequence counts once per recovery it went through). */
    public final LongAdder recoveredSequences = new LongAdder();
    /** Sequences that were kept for replay but failed: the pipeline did not come back in time or cannot. */
    public final LongAdder recoveryFailures = new LongAdder();
    public final LatencyHistogram timeToFirstToken =
            new LatencyHistogram(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60, 120);
    public final LatencyHistogram interToken =
            new LatencyHistogram(0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
                    0.75, 1, 1.5, 2, 3, 5, 10);

    // State owned by the loop thread.
    private final FairQueue<Seq> queue = new FairQueue<>();
    private final List<Seq> running = new ArrayList<>();   // admission order
    private final Map<Long, Seq> byId = new HashMap<>();
    private long reservedPositions;
    private int inFlight;
    private int prefillBatchesInFlight;
    private long lastPrefillDoneNanos;
    private long nextBatch = 1;
    // Recovery: the pipeline broke; running sequences wait for a ready one to be replayed on.
    private volatile boolean recovering;
    private long recoveryStartNanos;
    private String recoveryCause;
    // The current decoding period (from the first token after a time with no stream decoding): when it began, and
    // whether requests that were already waiting then may still be prefilled at full speed (until a sequence ends).
    private long periodStartNanos = Long.MAX_VALUE;
    private boolean burstOpen = true;
    private double decodeStepWorkNanos = Double.NaN;     // sum of stage compute of a decode-only step
    private double prefillNanosPerToken = Double.NaN;    // extra stage compute per prompt token
    private double interTokenNanos = Double.NaN;         // gap between tokens of a stream with no prefill in flight
    private double requestSeconds = 1;                    // arrival to finish, for Retry-After
    private double[] stageCompute = new double[0];   // per stage, grown as stages report (a plan may change)
    private double[] stageQueued = new double[0];
    private long[] stageSteps = new long[0];
    private final long[] tokenBuckets = new long[10];     // generated tokens per second, ring of the last 10 s
    private long tokenBucketSecond;

    /** Most recoveries one sequence goes through before it fails (a step that breaks every pipeline it meets). */
    static final int MAX_RECOVERIES = 3;

    /** One request from arrival to release. */
    private static final class Seq {
        long id;                  // the id the pipeline knows it by; a new one on each recovery
        final Request req;
        final Listener listener;
        final long arrived;
        final int reserve;
        int[] input;              // what prefill sends: the prompt, or after a recovery prompt + generated tokens
        int prefillSent;          // input tokens sent into the pipeline
        int generated;            // tokens sampled (including a final stop token)
        int[] tokens = new int[16]; // the sampled tokens, [0, generated)
        int last = -1;            // last sampled token
        boolean lost;             // a step holding it failed with the pipeline: replay it on the next one
        boolean replaying;        // prefilling again after a recovery: its next token is not a first token
        int recoveries;
        int inFlight;             // batches holding this sequence
        boolean decoding;         // prompt done, first token received
        boolean admitted;
        long lastTokenNanos;
        long lastStepNanos;
        Ending ending;            // set once the sequence must end; acted on when nothing is in flight

        Seq(long id, Request req, Listener listener, long arrived) {
            this.id = id;
            this.req = req;
            this.listener = listener;
            this.arrived = arrived;
            this.reserve = req.prompt().length + req.maxTokens();
            this.input = req.prompt();
        }

        boolean stopToken(int token) {
            return Arrays.binarySearch(req.stopTokens(), token) >= 0;
        }
    }

    private record Ending(FinishReason reason, String error) {}

    public Scheduler(PipelineExecutor pipeline, Config config) {
        this.pipeline = pipeline;
        this.config = config;
        loop = new Thread(this::run, "scheduler");
        loop.setDaemon(true);
        loop.start();
    }

    public PipelineExecutor pipeline() {
        return pipeline;
    }

    public Config config() {
        return config;
    }

    /**
     * Whether the pipeline broke and running sequences wait to be replayed on a new one. Requests are still queued
     * meanwhile (they wait like any other).
     */
    public boolean recovering() {
        return recovering;
    }

    /**
     * Queues a request. Throws {@link Rejected} when the pipeline is not ready or the queue is full, and
     * {@link IllegalArgumentException} when prompt plus max tokens exceed the context length.
     */
    public Ticket submit(Request request, Listener listener) throws Rejected {
        if (closed) throw new Rejected(Rejected.Reason.NOT_READY, "the scheduler is shut down", 5);
        if (!pipeline.ready() && !recovering) {
            throw new Rejected(Rejected.Reason.NOT_READY, "no pipeline is ready: some stage is not loaded", 5);
        }
        KvLimits kv = pipeline.kvLimits();
        long need = (long) request.prompt().length + request.maxTokens();
        if (need > kv.contextLength()) {
            throw new IllegalArgumentException("prompt (" + request.prompt().length + " tokens) plus max tokens (" + request.maxTokens()
                    + ") is " + need + ", over the context length of " + kv.contextLength());
        }
        for (int t : request.prompt()) {
            if (t < 0 || t >= pipeline.vocabSize()) {
                throw new IllegalArgumentException("prompt token id " + t + " is outside the vocabulary [0, " + pipeline.vocabSize() + ")");
            }
        }
        if (queuedCount.incrementAndGet() > config.maxQueued()) {
            queuedCount.decrementAndGet();
            rejectedQueueFull.increment();
            throw new Rejected(Rejected.Reason.QUEUE_FULL, "the queue is full (" + config.maxQueued() + " requests waiting)",
                    retryAfterSeconds());
        }
        requests.increment();
        Seq s = new Seq(nextSeq.getAndIncrement(), request, listener, System.nanoTime());
        events.add(() -> queue.add(request.user(), s));
        return () -> events.add(() -> cancel(s));
    }

    /** The dashboard's view, taken on the scheduler thread (waits at most 2 s). */
    public Snapshot snapshot() {
        CompletableFuture<Snapshot> f = new CompletableFuture<>();
        events.add(() -> f.complete(takeSnapshot()));
        try {
            return f.get(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while reading the scheduler state", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("the scheduler did not answer within 2 s", e);
        }
    }

    @Override
    public void close() {
        closed = true;
        events.add(() -> {
            for (Seq s : new ArrayList<>(byId.values())) end(s, new Ending(FinishReason.CANCELLED, "the server is shutting down"));
            Seq q;
            while ((q = queue.poll()) != null) {
                queuedCount.decrementAndGet();
                q.listener.onError("the server is shutting down");
            }
        });
        events.add(() -> { });
        loop.interrupt();
        try {
            loop.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // The loop

    private void run() {
        while (true) {
            Runnable e;
            try {
                // While recovering, wake up now and then to check for a ready pipeline and the deadline.
                e = recovering ? events.poll(RECOVERY_POLL_MILLIS, TimeUnit.MILLISECONDS) : events.take();
            } catch (InterruptedException ie) {
                if (closed) {
                    drain();
                    return;
                }
                continue;
            }
            if (e != null) handle(e);
            drain();
            if (closed) continue;
            schedule();
        }
    }

    private void drain() {
        Runnable e;
        while ((e = events.poll()) != null) handle(e);
    }

    private void handle(Runnable e) {
        try {
            e.run();
        } catch (RuntimeException ex) {
            LOG.log(Level.SEVERE, "scheduler event failed", ex);
        }
    }

    /** Fills the pipeline: builds and submits micro-batches until {@code depth} are in flight or there is no work. */
    private void schedule() {
        if (recovering && !recover()) return;
        int depth = pipeline.depth();
        while (inFlight < depth) {
            Planned p = build(depth);
            if (p == null) return;
            submitBatch(p);
        }
    }

    private Planned build(int depth) {
        long now = System.nanoTime();
        List<Row> rows = new ArrayList<>();
        // 1. decode rows: the decoding sequences spread evenly over `depth` micro-batches, least recently stepped first
        int decoding = 0;
        List<Seq> free = new ArrayList<>();
        for (Seq s : running) {
            if (!s.decoding || s.ending != null) continue;
            decoding++;
            if (s.inFlight == 0) free.add(s);
        }
        int cap = (decoding + depth - 1) / depth;
        free.sort(Comparator.comparingLong(s -> s.lastStepNanos));
        int decodeRows = 0;
        for (int i = 0; i < free.size() && i < cap; i++) {
            Seq s = free.get(i);
            int pos = s.req.prompt().length + s.generated - 1;
            rows.add(new Row(s.id, new int[]{s.last}, pos, true, s.req.sampling(), s.reserve));
            s.inFlight++;
            s.lastStepNanos = now;
            decodeRows++;
        }
        // 2. prompt chunks: sequences already in prefill first, then newly admitted ones
        if (decoding == 0) {  // no decoding period: the next first token starts one
            periodStartNanos = Long.MAX_VALUE;
            burstOpen = true;
        }
        boolean burst = decoding > 0 && inBurst(nextPrompt());
        int budget = burst ? config.prefillChunk() : prefillBudget(decoding);
        int prefillTokens = 0;
        for (Seq s : running) {
            if (budget == 0) break;
            if (s.decoding || s.ending != null || s.prefillSent == s.input.length) continue;
            if (burst && !inBurst(s)) continue;
            int c = addChunk(s, budget, rows);
            budget -= c;
            prefillTokens += c;
        }
        KvLimits kv = pipeline.kvLimits();
        int maxRunning = config.maxRunning() == 0 ? kv.maxSequences() : Math.min(config.maxRunning(), kv.maxSequences());
        while (budget > 0) {
            Seq s = queue.peek();
            if (s == null || running.size() >= maxRunning || reservedPositions + s.reserve > kv.totalPositions()) break;
            if (burst && !inBurst(s)) break;
            queue.poll();
            queuedCount.decrementAndGet();
            running.add(s);
            byId.put(s.id, s);
            s.admitted = true;
            reservedPositions += s.reserve;
            int c = addChunk(s, budget, rows);
            budget -= c;
            prefillTokens += c;
        }
        if (rows.isEmpty()) return null;
        return new Planned(new Batch(nextBatch++, List.copyOf(rows)), prefillTokens, decodeRows);
    }

    /** A built micro-batch and what it carries: prompt tokens and decode rows (for the cost model). */
    private record Planned(Batch batch, int prefillTokens, int decodeRows) {}

    private int addChunk(Seq s, int budget, List<Row> rows) {
        int[] prompt = s.input;
        int c = Math.min(budget, prompt.length - s.prefillSent);
        int[] chunk = Arrays.copyOfRange(prompt, s.prefillSent, s.prefillSent + c);
        boolean lastChunk = s.prefillSent + c == prompt.length;
        // The chunk the last stage samples first: a replayed sequence's sampler starts from the tokens generated before.
        int[] before = lastChunk && s.replaying ? Arrays.copyOf(s.tokens, s.generated) : null;
        rows.add(new Row(s.id, chunk, s.prefillSent, lastChunk, s.req.sampling(), s.reserve, before));
        s.prefillSent += c;
        s.inFlight++;
        return c;
    }

    /**
     * Whether {@code s} (waiting for its prompt to be prefilled) belongs to the burst that started the current decoding
     * period: it arrived before the period's first token, and no sequence has ended since. Such prompts are prefilled
     * at full chunk size even though streams decode: they came together with those streams (e.g. eight requests sent
     * at once), and pacing them would only start them late. Prompts that arrive later are paced.
     */
    private boolean inBurst(Seq s) {
        return s != null && burstOpen && s.arrived < periodStartNanos;
    }

    /** The sequence whose prompt goes next: one already in prefill, else the head of the queue (null: none). */
    private Seq nextPrompt() {
        for (Seq s : running) {
            if (!s.decoding && s.ending == null && s.prefillSent < s.input.length) return s;
        }
        return queue.peek();
    }

    /** Prompt tokens the next micro-batch may carry. */
    private int prefillBudget(int decoding) {
        if (decoding == 0) return config.prefillChunk();
        if (prefillBatchesInFlight > 0) return 0;   // one chunk at a time while streams decode
        if (Double.isNaN(interTokenNanos) || Double.isNaN(prefillNanosPerToken) || prefillNanosPerToken <= 0) {
            return Math.min(config.prefillChunk(), PROBE_CHUNK);
        }
        long tokens = (long) (PREFILL_STRETCH * interTokenNanos / prefillNanosPerToken);
        return (int) Math.max(1, Math.min(config.prefillChunk(), tokens));
    }

    private void submitBatch(Planned p) {
        inFlight++;
        if (p.prefillTokens() > 0) prefillBatchesInFlight++;
        CompletableFuture<Result> f;
        try {
            f = pipeline.submit(p.batch());
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((r, e) -> events.add(() -> completed(p, r, e)));
    }

    private void completed(Planned p, Result result, Throwable error) {
        long now = System.nanoTime();
        Batch b = p.batch();
        inFlight--;
        if (p.prefillTokens() > 0) {
            prefillBatchesInFlight--;
            lastPrefillDoneNanos = now;
        }
        if (result != null) learn(p, result);
        Map<Long, SeqOutput> outputs = new HashMap<>();
        Map<Long, String> failures = new HashMap<>();
        if (result != null) {
            for (SeqOutput o : result.outputs()) outputs.put(o.seq(), o);
            for (SeqFailure f : result.failures()) failures.put(f.seq(), f.message());
        }
        String stepError = error == null ? null : message(error);
        for (Row row : b.rows()) {
            Seq s = byId.get(row.seq());
            if (s == null) continue;
            s.inFlight--;
            if (s.ending != null) {
                settle(s);
                continue;
            }
            if (stepError != null) {
                if (pipeline.recoverable(error)) {
                    s.lost = true;
                    startRecovery(stepError);
                } else {
                    end(s, new Ending(null, stepError));
                }
                continue;
            }
            if (s.lost) continue;  // a step of the broken pipeline that had already failed it
            String failure = failures.get(s.id);
            if (failure != null) {
                end(s, new Ending(null, failure));
                continue;
            }
            if (!row.sample()) continue;
            SeqOutput out = outputs.get(s.id);
            if (out == null) {
                end(s, new Ending(null, "the pipeline returned no token for sequence " + s.id + " in step " + b.id()));
                continue;
            }
            accept(s, out, now);
        }
    }

    private static String message(Throwable e) {
        Throwable t = e;
        while ((t instanceof java.util.concurrent.CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    private void accept(Seq s, SeqOutput out, long now) {
        int token = out.token();
        if (s.generated == s.tokens.length) s.tokens = Arrays.copyOf(s.tokens, 2 * s.tokens.length);
        s.tokens[s.generated] = token;
        s.generated++;
        s.last = token;
        generatedTokens.increment();
        countToken(now);
        if (!s.decoding) {
            s.decoding = true;
            if (periodStartNanos == Long.MAX_VALUE) periodStartNanos = now;
            if (s.replaying) {
                s.replaying = false;
                interToken.observeNanos(now - s.lastTokenNanos);  // the pause the recovery made
            } else {
                timeToFirstToken.observeNanos(now - s.arrived);
            }
        } else {
            long gap = now - s.lastTokenNanos;
            interToken.observeNanos(gap);
            boolean clean = prefillBatchesInFlight == 0 && lastPrefillDoneNanos < s.lastTokenNanos;
            if (clean) interTokenNanos = ewma(interTokenNanos, gap);
        }
        s.lastTokenNanos = now;
        if (s.stopToken(token)) {
            end(s, new Ending(FinishReason.STOP, null));
            return;
        }
        boolean more;
        try {
            more = s.listener.onToken(token, out);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "listener of sequence " + s.id + " failed; cancelling it", e);
            end(s, new Ending(FinishReason.CANCELLED, null));
            return;
        }
        if (!more) {
            end(s, new Ending(FinishReason.STOP, null));
        } else if (s.generated >= s.req.maxTokens()) {
            end(s, new Ending(FinishReason.LENGTH, null));
        }
    }

    private void cancel(Seq s) {
        if (!s.admitted) {
            if (queue.remove(s.req.user(), s)) {
                queuedCount.decrementAndGet();
                cancelled.increment();
                notifyEnd(s, new Ending(FinishReason.CANCELLED, null));
            }
            return;
        }
        end(s, new Ending(FinishReason.CANCELLED, null));
    }

    /** Marks the sequence to end; releases it now if no step holding it is in flight, else when the last returns. */
    private void end(Seq s, Ending ending) {
        if (s.ending == null) s.ending = ending;
        burstOpen = false;  // a sequence ending frees room: what waits now is paced
        settle(s);
    }

    private void settle(Seq s) {
        if (s.inFlight > 0 || !byId.containsKey(s.id)) return;
        byId.remove(s.id);
        running.remove(s);
        reservedPositions -= s.reserve;
        pipeline.release(s.id);
        promptTokens.add(s.req.prompt().length);
        requestSeconds = requestSeconds + EWMA * ((System.nanoTime() - s.arrived) / 1e9 - requestSeconds);
        Ending e = s.ending;
        if (e.error() != null) failed.increment();
        else if (e.reason() == FinishReason.CANCELLED) cancelled.increment();
        else finished.increment();
        notifyEnd(s, e);
    }

    private void notifyEnd(Seq s, Ending e) {
        try {
            if (e.error() != null) s.listener.onError(e.error());
            else s.listener.onFinish(e.reason(), s.req.prompt().length, s.generated);
        } catch (RuntimeException ex) {
            LOG.log(Level.WARNING, "listener of sequence " + s.id + " failed at its end", ex);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Recovery

    /** How often the loop looks for a ready pipeline while recovering. */
    static final long RECOVERY_POLL_MILLIS = 50;

    private void startRecovery(String cause) {
        if (recovering) return;
        recovering = true;
        recoveryStartNanos = System.nanoTime();
        recoveryCause = cause;
        int kept = 0;
        for (Seq s : running) if (s.ending == null) kept++;
        LOG.warning("pipeline broke (" + cause + "); keeping " + kept + " running sequence(s) to replay on the next pipeline (up to "
                + config.recoveryTimeout().toSeconds() + " s)");
    }

    /**
     * Called before scheduling while recovering. Returns true once the kept sequences are set up to be replayed on a
     * ready pipeline (scheduling goes on), false while still waiting. Fails the kept sequences when the deadline passed
     * or the executor says it cannot recover.
     */
    private boolean recover() {
        if (inFlight > 0) return false;  // steps of the broken pipeline still out: they fail (or finish) first
        long waited = System.nanoTime() - recoveryStartNanos;
        String cannot = pipeline.unrecoverable();
        boolean ready = cannot == null && pipeline.ready();
        if (!ready && (cannot != null || waited >= config.recoveryTimeout().toNanos())) {
            String why = cannot != null ? "the remaining workers cannot serve the model: " + cannot
                    : "no pipeline was ready again within " + config.recoveryTimeout().toSeconds() + " s"
                    + (pipeline.notReadyReason() == null ? "" : ": " + pipeline.notReadyReason());
            String message = "the pipeline broke mid-request (" + recoveryCause + "); the request was kept to be retried on a new "
                    + "pipeline, but " + why;
            List<Seq> kept = new ArrayList<>();
            for (Seq s : running) if (s.ending == null) kept.add(s);
            int failedNow = kept.size();
            // Counted and closed before the clients hear of it: whoever sees the error also sees it counted.
            recoveryFailures.add(failedNow);
            recovering = false;
            for (Seq s : kept) end(s, new Ending(null, message));
            if (pipeline.ready()) {
                LOG.warning("recovery failed after " + waited / 1_000_000 + " ms; " + failedNow + " sequence(s) failed: " + why);
                return true;  // a pipeline came back just now: what waits in the queue is served
            }
            // Still nothing to run on: the requests that waited in the queue through the recovery fail too, rather than
            // wait for an event that may never come.
            int queuedFailed = 0;
            Seq q;
            while ((q = queue.poll()) != null) {
                queuedCount.decrementAndGet();
                failed.increment();
                queuedFailed++;
                notifyEnd(q, new Ending(null, "the pipeline broke (" + recoveryCause + ") while the request was queued, and " + why));
            }
            LOG.warning("recovery failed after " + waited / 1_000_000 + " ms; " + failedNow + " running and " + queuedFailed
                    + " queued request(s) failed: " + why);
            return false;
        }
        if (!ready) return false;
        int replayed = 0;
        for (Seq s : new ArrayList<>(running)) {
            if (s.ending != null) continue;
            if (++s.recoveries > MAX_RECOVERIES) {
                end(s, new Ending(null, "the pipeline broke " + MAX_RECOVERIES + " times under this request (last: " + recoveryCause
                        + "); it was retried each time and is not retried again"));
                continue;
            }
            long old = s.id;
            byId.remove(old);
            pipeline.release(old);  // a pipeline that still knows the old id (a transient failure) frees its caches
            s.id = nextSeq.getAndIncrement();
            byId.put(s.id, s);
            int[] replay = Arrays.copyOf(s.req.prompt(), s.req.prompt().length + s.generated);
            System.arraycopy(s.tokens, 0, replay, s.req.prompt().length, s.generated);
            s.input = replay;
            s.prefillSent = 0;
            s.replaying = s.generated > 0;
            s.decoding = false;
            s.lost = false;
            replayed++;
        }
        recoveries.increment();
        recoveredSequences.add(replayed);
        LOG.warning("recovered from " + recoveryCause + " after " + waited / 1_000_000 + " ms: replaying " + replayed
                + " sequence(s) (prompt + generated tokens) on the new pipeline");
        recovering = false;
        periodStartNanos = Long.MAX_VALUE;
        burstOpen = true;
        return true;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Measurements

    private static double ewma(double avg, double sample) {
        return Double.isNaN(avg) ? sample : avg + EWMA * (sample - avg);
    }

    private void learn(Planned p, Result r) {
        if (r.timings().isEmpty()) return;
        long work = 0;
        for (StageTime t : r.timings()) {
            work += t.computeNanos();
            if (t.stage() >= stageCompute.length && t.stage() < 1024) growStages(t.stage() + 1);
            if (t.stage() >= 0 && t.stage() < stageCompute.length) {
                stageCompute[t.stage()] = ewma(stageCompute[t.stage()], t.computeNanos());
                stageQueued[t.stage()] = ewma(stageQueued[t.stage()], t.queuedNanos());
                stageSteps[t.stage()]++;
            }
        }
        if (p.prefillTokens() == 0) {
            decodeStepWorkNanos = ewma(decodeStepWorkNanos, work);
        } else {
            double decodePart = p.decodeRows() > 0 && !Double.isNaN(decodeStepWorkNanos) ? decodeStepWorkNanos : 0;
            prefillNanosPerToken = ewma(prefillNanosPerToken, Math.max(0, work - decodePart) / p.prefillTokens());
        }
    }

    private void growStages(int n) {
        int old = stageCompute.length;
        stageCompute = Arrays.copyOf(stageCompute, n);
        stageQueued = Arrays.copyOf(stageQueued, n);
        stageSteps = Arrays.copyOf(stageSteps, n);
        Arrays.fill(stageCompute, old, n, Double.NaN);
        Arrays.fill(stageQueued, old, n, Double.NaN);
    }

    private void countToken(long now) {
        long sec = now / 1_000_000_000L;
        if (sec != tokenBucketSecond) {
            long gap = Math.min(sec - tokenBucketSecond, tokenBuckets.length);
            for (long i = 1; i <= gap; i++) tokenBuckets[(int) ((tokenBucketSecond + i) % tokenBuckets.length)] = 0;
            tokenBucketSecond = sec;
        }
        tokenBuckets[(int) (sec % tokenBuckets.length)]++;
    }

    private Snapshot takeSnapshot() {
        countTokenWindow();
        long total = 0;
        for (int i = 0; i < tokenBuckets.length; i++) if (i != (int) (tokenBucketSecond % tokenBuckets.length)) total += tokenBuckets[i];
        int decoding = 0;
        for (Seq s : running) if (s.decoding && s.ending == null) decoding++;
        List<StageLoad> loads = new ArrayList<>();
        for (int i = 0; i < stageCompute.length; i++) {
            loads.add(new StageLoad(i, stageCompute[i] / 1e6, stageQueued[i] / 1e6, stageSteps[i]));
        }
        return new Snapshot(queuedCount.get(), running.size(), decoding, inFlight, pipeline.depth(), reservedPositions,
                pipeline.kvLimits(), total / (double) (tokenBuckets.length - 1), interTokenNanos / 1e6,
                prefillNanosPerToken / 1e6, loads);
    }

    /** Advances the token-rate ring to now without counting a token. */
    private void countTokenWindow() {
        long sec = System.nanoTime() / 1_000_000_000L;
        if (sec != tokenBucketSecond) {
            long gap = Math.min(sec - tokenBucketSecond, tokenBuckets.length);
            for (long i = 1; i <= gap; i++) tokenBuckets[(int) ((tokenBucketSecond + i) % tokenBuckets.length)] = 0;
            tokenBucketSecond = sec;
        }
    }

    private long retryAfterSeconds() {
        KvLimits kv = pipeline.kvLimits();
        double perSlot = requestSeconds * (config.maxQueued() + 1) / Math.max(1, kv.maxSequences());
        return Math.max(1, Math.min(60, (long) Math.ceil(perSlot)));
    }
}
