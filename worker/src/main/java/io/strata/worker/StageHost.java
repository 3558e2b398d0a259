package io.strata.worker;

import io.strata.engine.backend.KvCache;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.worker.Frames.Chunk;
import io.strata.worker.Frames.SeqFailure;
import io.strata.worker.Frames.SeqOutput;
import io.strata.worker.Frames.Timing;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * Runs one stage: steps and releases are processed one at a time in arrival order; for each the stage's layers run
 * over the step's sequences and the result goes to the {@link StageOutput} (the next stage, or the coordinator on the
 * last stage). A sequence that cannot run (no free KV cache, unknown, past the context) is dropped from the step with
 * a reason that travels with the step, so the coordinator always gets exactly one result per step it sent.
 *
 * <p>Threads: a frame runs <em>inline</em>, on the transport thread that received it, when nothing is queued or
 * running, the output can take it at once, and its compute is expected to be short ({@link #INLINE_BUDGET_NANOS});
 * on a worker whose server and downstream channel share one event loop, a decode step then crosses a boundary with a
 * single thread wake-up (the receiver's), instead of three (the receiving event loop, the stage thread, the sending
 * event loop). Anything else (a long prefill chunk, an output that is not ready, frames behind others) is queued for
 * the stage thread, which may block on the output's flow control. Either way, one frame at a time, in order.
 *
 * <p>Flow control: arrivals are bounded by the inbound stream's credit (the caller requests one more frame from the
 * {@code done} callback of each item), and the stage thread waits for the output to be ready before taking the next
 * item.
 */
public final class StageHost implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StageHost.class);

    /**
     * The longest compute a frame may be expected to take and still run on the transport thread: while it runs, that
     * thread serves no other call of this worker (control calls wait, keepalive pings are answered late), so this
     * stays a tenth of the 20 s keepalive timeout ({@code grpc.Channels}), leaving room for a machine slowed down
     * several times by other work. Decode steps on real hardware take milliseconds; on this project's 2-vCPU test
     * machine a 405B-wide stage of 1–4 layers takes 0.3–1.8 s.
     */
    public static final long INLINE_BUDGET_NANOS = 2_000_000_000L;

    private record Work(Object frame, Runnable done) {
    }

    private final String workerId;
    private final int stageIndex;
    private final String where;
    private final Stage stage;
    private final ModelConfig cfg;
    private final SequenceTable seqs;
    private final Sampler sampler;
    private final Object lock = new Object();
    private final ArrayDeque<Work> queue = new ArrayDeque<>();  // guarded by lock
    private final int capacity;
    private boolean busy;  // guarded by lock: a frame is being processed (inline or on the stage thread)
    /**
     * Steps of up to this many rows run inline: the most rows of a step measured within the budget, lowered when a
     * step of that many rows or fewer took longer. A step's compute grows with its rows, so this needs no model of
     * the cost (a per-row average would let a prefill chunk, cheap per row, vouch for a decode step). 0 until a step
     * was measured: the first steps run on the stage thread.
     */
    private volatile int inlineRows;
    private final Thread thread;
    private volatile StageOutput output;
    private final BiConsumer<StageOutput, String> onBroken;
    private volatile boolean closed;
    private volatile long steps;
    private final AtomicLong warmupFrames = new AtomicLong();
    private float[] out = new float[0];

    /**
     * @param queueCapacity upper bound of frames admitted by the inbound credit (the queue never refuses below it)
     * @param onBroken      told when the output cannot deliver, with the output and the reason
     */
    public StageHost(String workerId, int stageIndex, Stage stage, KvCache[] caches, int queueCapacity,
                     BiConsumer<StageOutput, String> onBroken) {
        this.workerId = workerId;
        this.stageIndex = stageIndex;
        this.stage = stage;
        this.cfg = stage.config();
        this.seqs = new SequenceTable(caches);
        this.sampler = new Sampler(cfg.vocab(), seqs.contextLength());
        this.capacity = queueCapacity;
        this.onBroken = onBroken;
        this.where = "stage " + stageIndex + " (layers [" + stage.firstLayer() + ", " + stage.endLayer() + ") on worker " + workerId + ")";
        this.thread = Thread.ofPlatform().name("stage-" + stageIndex + "-" + workerId).daemon().unstarted(this::run);
        thread.start();
    }

    public String where() {
        return where;
    }

    public Stage stage() {
        return stage;
    }

    public void setOutput(StageOutput output) {
        this.output = output;
    }

    public StageOutput output() {
        return output;
    }

    public int activeSequences() {
        return seqs.active();
    }

    public long kvBytes() {
        return seqs.bytes();
    }

    public long steps() {
        return steps;
    }

    /** Warm-up frames (stage.proto, {@code Step.warmup}) the transport decoded and dropped for this stage. */
    public long warmupFrames() {
        return warmupFrames.get();
    }

    /** Counts a warm-up frame the transport decoded and dropped (it never reaches the stage). */
    public void warmupFrame() {
        warmupFrames.incrementAndGet();
    }

    /**
     * Admits a {@link Frames.Step} or {@link Frames.Release} from the transport thread; never waits for the output.
     * Runs it right here when it may ({@link StageHost class comment}), else queues it for the stage thread. {@code done}
     * runs once the frame is handed on (the inbound adapter requests the next frame there).
     */
    public void submit(Object frame, Runnable done) {
        Work w = new Work(frame, done);
        StageOutput o = output;
        synchronized (lock) {
            if (closed) throw new IllegalStateException(where + " is closed");
            if (busy || !queue.isEmpty() || !inlineAllowed(frame, o)) {
                if (queue.size() >= capacity) {
                    // Only a peer that ignores flow control gets here.
                    throw new IllegalStateException(where + ": more frames arrived than the stream's credit allows (" + queue.size() + ")");
                }
                queue.add(w);
                if (!busy) lock.notifyAll();
                return;
            }
            busy = true;
        }
        try {
            process(w, o, true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            synchronized (lock) {
                busy = false;
                if (!queue.isEmpty() || closed) lock.notifyAll();
            }
        }
    }

    /** Whether {@code frame} may run on the calling transport thread: an output that takes it now, a short compute. */
    private boolean inlineAllowed(Object frame, StageOutput o) {
        if (o == null || !o.readyNow()) return false;
        if (!(frame instanceof Frames.Step s)) return true;
        int rows = 0;
        for (Chunk c : s.chunks()) rows += c.rows();
        if (rows == 0) return true;
        return rows <= inlineRows;
    }

    private void run() {
        while (true) {
            Work w;
            synchronized (lock) {
                while (!closed && (busy || queue.isEmpty())) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) return;
                w = queue.poll();
                busy = true;
            }
            try {
                process(w, output, false);
            } catch (InterruptedException e) {
                return;
            } finally {
                synchronized (lock) {
                    busy = false;
                    if (closed) lock.notifyAll();
                }
            }
        }
    }

    /** One frame, on whichever thread holds {@code busy}; waits for the output only when it is not ready. */
    private void process(Work w, StageOutput o, boolean inline) throws InterruptedException {
        try {
            if (o == null) {
                throw new StageOutput.BrokenOutputException(where + " has no output: "
                        + (stage.isLast() ? "the coordinator has not opened the results stream" : "not linked to the next stage"));
            }
            o.awaitReady();
            switch (w.frame()) {
                case Frames.Step s -> step(s, o);
                case Frames.Release r -> release(r, o);
                default -> throw new IllegalStateException("unknown frame " + w.frame().getClass());
            }
        } catch (StageOutput.BrokenOutputException e) {
            log.warn("{}: dropping a frame: {}", where, e.getMessage());
            if (o != null && inline) {
                // Not on the transport thread: the listener takes the slot's lock, which a caller of close() may
                // hold while it waits for this frame to finish.
                String why = e.getMessage();
                Thread.ofVirtual().start(() -> onBroken.accept(o, why));
            } else if (o != null) {
                onBroken.accept(o, e.getMessage());
            }
        } catch (RuntimeException e) {
            log.error("{}: frame failed", where, e);
        } finally {
            if (w.done() != null) w.done().run();
        }
    }

    private void release(Frames.Release r, StageOutput o) {
        if (r.all()) {
            seqs.releaseAll();
        } else {
            for (long id : r.seqIds()) seqs.release(id);
        }
        if (stage.isLast()) {
            o.released(r);
        } else {
            o.forward(r);
        }
    }

    private void step(Frames.Step in, StageOutput o) {
        long start = System.nanoTime();
        long queued = Math.max(0, start - in.arrivedNanos());
        int dim = cfg.dim();
        List<SeqFailure> failures = new ArrayList<>(in.failures());
        List<Chunk> kept = new ArrayList<>(in.chunks().size());
        List<SequenceTable.Entry> entries = new ArrayList<>(in.chunks().size());
        int[] rowOffset = new int[in.chunks().size()];
        Set<Long> seen = new HashSet<>();
        int inRows = 0;
        int keptRows = 0;
        for (int c = 0; c < in.chunks().size(); c++) {
            Chunk ch = in.chunks().get(c);
            rowOffset[c] = inRows;
            inRows += ch.rows();
            String why = null;
            String code = "FAILED_PRECONDITION";
            SequenceTable.Entry e = seqs.get(ch.seqId());
            if (!seen.add(ch.seqId())) {
                why = "appears twice in one step";
                code = "INVALID_ARGUMENT";
            } else if (ch.rows() <= 0) {
                why = "has no rows";
                code = "INVALID_ARGUMENT";
            } else if (ch.start() + ch.rows() > seqs.contextLength()) {
                why = "positions " + ch.start() + ".." + (ch.start() + ch.rows() - 1) + " exceed the context length " + seqs.contextLength();
                code = "OUT_OF_RANGE";
            } else if (e == null && ch.start() != 0) {
                why = "is unknown here (never prefilled, or released) but the chunk starts at position " + ch.start();
            } else if (e != null && ch.start() > e.length) {
                why = "has " + e.length + " positions here but the chunk starts at " + ch.start();
            } else if (stage.isFirst() && !tokensValid(in.tokens(), rowOffset[c], ch.rows())) {
                why = "has a token id outside the vocabulary of " + cfg.vocab();
                code = "INVALID_ARGUMENT";
            } else if (stage.isLast() && ch.sample() && Sampler.invalid(ch.sampling()) != null) {
                why = "cannot be sampled: " + Sampler.invalid(ch.sampling());
                code = "INVALID_ARGUMENT";
            }
            if (why == null && e == null) {
                e = seqs.open(ch.seqId());
                if (e == null) {
                    why = "cannot start: all " + seqs.capacity() + " KV caches are in use";
                    code = "RESOURCE_EXHAUSTED";
                }
            }
            if (why != null) {
                failures.add(new SeqFailure(ch.seqId(), code, "sequence " + ch.seqId() + " " + why + " (" + where + ")"));
                continue;
            }
            kept.add(ch);
            entries.add(e);
            keptRows += ch.rows();
        }

        int n = keptRows;
        int[] tokens = stage.isFirst() ? new int[n] : null;
        float[] hidden = stage.isFirst() ? null : (kept.size() == in.chunks().size() ? in.hidden() : new float[n * dim]);
        int[] positions = new int[n];
        KvCache[] caches = new KvCache[n];
        List<Integer> logitRows = new ArrayList<>();
        int row = 0;
        int k = 0;
        for (int c = 0; c < in.chunks().size(); c++) {
            Chunk ch = in.chunks().get(c);
            if (k >= kept.size() || kept.get(k) != ch) continue;
            SequenceTable.Entry e = entries.get(k++);
            for (int i = 0; i < ch.rows(); i++) {
                int r = row + i;
                positions[r] = ch.start() + i;
                caches[r] = e.cache;
                if (tokens != null) tokens[r] = in.tokens()[rowOffset[c] + i];
                if (stage.isLast() && (ch.returnLogits() || (ch.sample() && i == ch.rows() - 1))) logitRows.add(r);
            }
            if (hidden != null && hidden != in.hidden()) {
                System.arraycopy(in.hidden(), rowOffset[c] * dim, hidden, row * dim, ch.rows() * dim);
            }
            row += ch.rows();
        }

        List<SeqOutput> outputs = new ArrayList<>();
        if (n > 0) {
            int[] lr = new int[logitRows.size()];
            for (int i = 0; i < lr.length; i++) lr[i] = logitRows.get(i);
            var step = new io.strata.engine.model.Step(n, tokens, hidden, positions, caches, lr);
            int need = stage.outputFloats(step);
            if (out.length < need) out = new float[need];
            try {
                stage.forward(step, out);
                for (int i = 0; i < kept.size(); i++) {
                    Chunk ch = kept.get(i);
                    entries.get(i).length = ch.start() + ch.rows();
                }
                if (stage.isLast()) outputs = pick(kept, entries, out);
            } catch (RuntimeException ex) {
                log.error("{}: forward of step {} failed", where, in.stepId(), ex);
                for (Chunk ch : kept) {
                    failures.add(new SeqFailure(ch.seqId(), "INTERNAL", "sequence " + ch.seqId() + ": forward failed at " + where + ": " + ex));
                    seqs.release(ch.seqId());
                }
                kept = List.of();
                n = 0;
                outputs = List.of();
            }
        }
        steps++;
        long compute = System.nanoTime() - start;
        if (n > 0) inlineRows = compute <= INLINE_BUDGET_NANOS ? Math.max(inlineRows, n) : Math.min(inlineRows, n - 1);
        List<Timing> timings = new ArrayList<>(in.timings());
        timings.add(new Timing(stageIndex, workerId, queued, compute));
        if (stage.isLast()) {
            o.result(new Frames.StepResult(in.stepId(), outputs, failures, timings));
        } else {
            // The first n rows of out: forward encodes them before it returns (StageOutput), so no copy is made.
            o.forward(new Frames.Step(in.stepId(), kept, null, out, failures, timings, 0L));
        }
    }

    private boolean tokensValid(int[] tokens, int off, int rows) {
        if (tokens == null || tokens.length < off + rows) return false;
        for (int i = off; i < off + rows; i++) {
            if (tokens[i] < 0 || tokens[i] >= cfg.vocab()) return false;
        }
        return true;
    }

    /** Last stage: tokens (and logits, log-probabilities) of each kept chunk from the logit rows in {@code out}. */
    private List<SeqOutput> pick(List<Chunk> kept, List<SequenceTable.Entry> entries, float[] out) {
        int vocab = cfg.vocab();
        List<SeqOutput> outputs = new ArrayList<>(kept.size());
        int lrow = 0;
        for (int i = 0; i < kept.size(); i++) {
            Chunk ch = kept.get(i);
            int rows = ch.returnLogits() ? ch.rows() : (ch.sample() ? 1 : 0);
            float[] logits = null;
            if (ch.returnLogits()) {
                logits = new float[rows * vocab];
                System.arraycopy(out, lrow * vocab, logits, 0, rows * vocab);
            }
            int token = -1;
            float logprob = 0f;
            int[] topTokens = new int[0];
            float[] topLogprobs = new float[0];
            if (ch.sample()) {
                int off = (lrow + rows - 1) * vocab;
                SequenceTable.Entry e = entries.get(i);
                token = sampler.pick(out, off, ch.sampling(), e);
                if (ch.logprobs() || ch.topLogprobs() > 0) {
                    double lse = TokenPicker.logSumExp(out, off, vocab);
                    logprob = (float) (out[off + token] - lse);
                    if (ch.topLogprobs() > 0) {
                        topTokens = TokenPicker.top(out, off, vocab, ch.topLogprobs());
                        topLogprobs = new float[topTokens.length];
                        for (int t = 0; t < topTokens.length; t++) topLogprobs[t] = (float) (out[off + topTokens[t]] - lse);
                    }
                }
            }
            outputs.add(new SeqOutput(ch.seqId(), token, logprob, topTokens, topLogprobs, ch.returnLogits() ? rows : 0, logits));
            lrow += rows;
        }
        return outputs;
    }

    /**
     * Stops the stage thread and waits (up to 10 s) for a frame running inline to finish, so the caller may free the
     * stage's memory afterwards.
     */
    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            lock.notifyAll();
        }
        thread.interrupt();
        try {
            thread.join(10_000);
            long deadline = System.nanoTime() + 10_000_000_000L;
            synchronized (lock) {
                while (busy) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        log.warn("{}: a frame still runs 10 s after close", where);
                        break;
                    }
                    lock.wait(left / 1_000_000 + 1);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        seqs.clear();
    }
}
