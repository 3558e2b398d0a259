package io.strata.coordinator;

import io.strata.engine.sample.StageSampling;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * A simple generation driver over a {@link Pipeline}, serving requests one batch at a time: it takes the waiting
 * requests (up to the pipeline's number of sequences), prefills their prompts in chunks of at most the pipeline's
 * batch rows (chunks of several prompts share a step), then decodes all of them together, one step per token, until
 * each stops; then it takes the next batch. A scheduler with continuous batching and several micro-batches in flight
 * replaces this on the same {@link Pipeline} API.
 *
 * <p>A request arriving while no pipeline is ready fails at once with the reason; a pipeline that breaks mid-way
 * fails the requests it was serving with the stage's reason; a step that does not come back within the step timeout
 * fails them too. Nothing waits forever.
 */
public final class Generator implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Generator.class);

    /**
     * @param stopToken    end of generation token (-1: none)
     * @param returnLogits also return the logits of the prompt's last row and of every generated step
     */
    public record Request(int[] prompt, int maxTokens, StageSampling sampling, int stopToken, boolean logprobs,
                          int topLogprobs, boolean returnLogits) {
        public static Request greedy(int[] prompt, int maxTokens) {
            return new Request(prompt, maxTokens, StageSampling.GREEDY, -1, false, 0, false);
        }
    }

    /** Streams tokens as they arrive (called on the driver thread; must not block). */
    public interface Listener {
        void token(int id, float logprob, int[] topTokens, float[] topLogprobs);
    }

    /**
     * @param logits     per sampled token, the logits it was sampled from (when asked)
     * @param stepNanos  round trip of each decode step (benchmarks)
     * @param computeNanos stages' compute of each decode step
     * @param queuedNanos  time the step waited at the stages before their compute began (wake-ups, queues)
     */
    public record Result(int[] tokens, String finishReason, long timeToFirstTokenNanos, long totalNanos, List<float[]> logits,
                         long[] stepNanos, long[] computeNanos, long[] queuedNanos) {
    }

    private record Job(Request request, Listener listener, CompletableFuture<Result> result, long submitted) {
    }

    private final Supplier<Pipeline> pipelines;
    private final Duration stepTimeout;
    private final LinkedBlockingQueue<Job> queue = new LinkedBlockingQueue<>();
    private final AtomicLong seqIds = new AtomicLong(System.nanoTime() & 0xffffffffL);
    private final Thread thread;
    private volatile boolean closed;

    /** @param pipelines gives the ready pipeline or throws {@link NotReadyException} (e.g. {@code coordinator::pipeline}) */
    public Generator(Supplier<Pipeline> pipelines, Duration stepTimeout) {
        this.pipelines = pipelines;
        this.stepTimeout = stepTimeout;
        this.thread = Thread.ofPlatform().name("generator").daemon().start(this::run);
    }

    /** Queues a request; the future completes with the result or fails with the reason. */
    public CompletableFuture<Result> submit(Request r, Listener listener) {
        CompletableFuture<Result> f = new CompletableFuture<>();
        if (r.prompt().length == 0) {
            f.completeExceptionally(new IllegalArgumentException("the prompt is empty"));
            return f;
        }
        try {
            Pipeline p = pipelines.get();  // fail fast when nothing can serve
            if (r.prompt().length + r.maxTokens() > p.info().contextLength()) {
                f.completeExceptionally(new IllegalArgumentException("prompt (" + r.prompt().length + " tokens) + max tokens ("
                        + r.maxTokens() + ") exceed the context length " + p.info().contextLength()));
                return f;
            }
        } catch (PipelineException e) {
            f.completeExceptionally(e);
            return f;
        }
        if (closed) {
            f.completeExceptionally(new PipelineException("the generator is closed"));
            return f;
        }
        queue.add(new Job(r, listener, f, System.nanoTime()));
        return f;
    }

    public Result generate(Request r, Listener listener) throws InterruptedException, ExecutionException {
        return submit(r, listener).get();
    }

    private void run() {
        while (!closed) {
            Job first;
            try {
                first = queue.take();
            } catch (InterruptedException e) {
                break;
            }
            List<Job> batch = new ArrayList<>();
            batch.add(first);
            Pipeline p;
            try {
                p = pipelines.get();
            } catch (PipelineException e) {
                first.result().completeExceptionally(e);
                continue;
            }
            queue.drainTo(batch, Math.max(0, p.info().maxSequences() - 1));
            try {
                serve(p, batch);
            } catch (RuntimeException e) {
                log.warn("generation failed: {}", e.getMessage());
                for (Job j : batch) j.result().completeExceptionally(e);
            }
        }
        for (Job j : queue) j.result().completeExceptionally(new PipelineException("the generator is closed"));
    }

    /** One sequence being served. */
    private static final class Seq {
        final Job job;
        final long id;
        final List<Integer> tokens = new ArrayList<>();
        final List<float[]> logits = new ArrayList<>();
        final List<Long> steps = new ArrayList<>();
        final List<Long> compute = new ArrayList<>();
        final List<Long> queued = new ArrayList<>();
        int prefilled;
        int position;
        int last = -1;
        long firstToken;
        String finish;
        Throwable error;

        Seq(Job job, long id) {
            this.job = job;
            this.id = id;
        }

        boolean done() {
            return finish != null || error != null;
        }
    }

    private void serve(Pipeline p, List<Job> jobs) {
        List<Seq> seqs = new ArrayList<>();
        for (Job j : jobs) seqs.add(new Seq(j, seqIds.incrementAndGet()));
        int maxRows = p.info().maxBatch();
        try {
            // Prefill: pack prompt chunks of the batch's sequences into steps of at most maxRows rows.
            while (true) {
                List<Pipeline.SeqStep> step = new ArrayList<>();
                List<Seq> in = new ArrayList<>();
                int rows = 0;
                for (Seq s : seqs) {
                    int[] prompt = s.job.request().prompt();
                    if (s.done() || s.prefilled == prompt.length || rows == maxRows) continue;
                    int n = Math.min(prompt.length - s.prefilled, maxRows - rows);
                    boolean lastChunk = s.prefilled + n == prompt.length;
                    Request r = s.job.request();
                    step.add(new Pipeline.SeqStep(s.id, s.prefilled, Arrays.copyOfRange(prompt, s.prefilled, s.prefilled + n), lastChunk,
                            r.sampling(), r.logprobs(), r.topLogprobs(), lastChunk && r.returnLogits()));
                    in.add(s);
                    rows += n;
                }
                if (step.isEmpty()) break;
                Pipeline.StepResult res = await(p.submit(step));
                for (int i = 0; i < in.size(); i++) {
                    Seq s = in.get(i);
                    int n = step.get(i).tokens().length;
                    s.prefilled += n;
                    s.position = s.prefilled;
                    if (step.get(i).sample()) accept(s, res, true);
                    else fail(s, res);
                }
            }
            // Decode: every live sequence advances by one token per step.
            while (true) {
                List<Pipeline.SeqStep> step = new ArrayList<>();
                List<Seq> in = new ArrayList<>();
                for (Seq s : seqs) {
                    if (s.done()) continue;
                    Request r = s.job.request();
                    step.add(new Pipeline.SeqStep(s.id, s.position, new int[]{s.last}, true, r.sampling(), r.logprobs(),
                            r.topLogprobs(), r.returnLogits()));
                    in.add(s);
                }
                if (step.isEmpty()) break;
                Pipeline.StepResult res = await(p.submit(step));
                for (Seq s : in) {
                    s.position++;
                    s.steps.add(res.roundTripNanos());
                    s.compute.add(res.computeNanos());
                    long q = 0;
                    for (Pipeline.StageTime t : res.timings()) q += t.queuedNanos();
                    s.queued.add(q);
                    accept(s, res, false);
                }
            }
        } finally {
            long[] ids = seqs.stream().mapToLong(s -> s.id).toArray();
            try {
                await(p.release(ids));
            } catch (RuntimeException e) {
                log.debug("release after generation failed: {}", e.getMessage());
            }
        }
        long now = System.nanoTime();
        for (Seq s : seqs) {
            if (s.error != null) {
                s.job.result().completeExceptionally(s.error);
                continue;
            }
            int[] toks = s.tokens.stream().mapToInt(Integer::intValue).toArray();
            s.job.result().complete(new Result(toks, s.finish, s.firstToken - s.job.submitted(), now - s.job.submitted(),
                    s.job.request().returnLogits() ? List.copyOf(s.logits) : List.of(),
                    s.steps.stream().mapToLong(Long::longValue).toArray(), s.compute.stream().mapToLong(Long::longValue).toArray(),
                    s.queued.stream().mapToLong(Long::longValue).toArray()));
        }
    }

    /** Takes the sampled token of {@code s} from a step result, or its error. */
    private static void accept(Seq s, Pipeline.StepResult res, boolean firstToken) {
        Pipeline.SeqOutput o = res.output(s.id);
        if (o == null) {
            Pipeline.SeqError e = res.error(s.id);
            s.error = new PipelineException(e != null ? e.code() + ": " + e.message()
                    : "step " + res.stepId() + " returned no token for sequence " + s.id);
            return;
        }
        Request r = s.job.request();
        if (firstToken) s.firstToken = System.nanoTime();
        s.last = o.token();
        s.tokens.add(o.token());
        if (o.logits() != null) s.logits.add(o.logits());
        if (s.job.listener() != null) s.job.listener().token(o.token(), o.logprob(), o.topTokens(), o.topLogprobs());
        if (o.token() == r.stopToken()) s.finish = "stop";
        else if (s.tokens.size() >= r.maxTokens()) s.finish = "length";
    }

    private static void fail(Seq s, Pipeline.StepResult res) {
        Pipeline.SeqError e = res.error(s.id);
        if (e != null) s.error = new PipelineException(e.code() + ": " + e.message());
    }

    private <T> T await(CompletableFuture<T> f) {
        try {
            return f.get(stepTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException re) throw re;
            throw new PipelineException(c.toString(), c);
        } catch (TimeoutException e) {
            throw new PipelineException("no result from the pipeline within " + stepTimeout.toSeconds() + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PipelineException("interrupted");
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
