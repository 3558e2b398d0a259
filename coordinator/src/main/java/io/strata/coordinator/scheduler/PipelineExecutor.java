package io.strata.coordinator.scheduler;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * What the {@link Scheduler} needs from a pipeline of stages: run a step batch through every stage and get back the
 * token sampled for each sequence that asked for one. Two implementations: {@link LocalPipeline} (every stage in this
 * process, one thread each) and the cluster's remote pipeline (stage 0 over gRPC, results from the last stage).
 *
 * <p>Contract:
 * <ul>
 *   <li>{@link #submit} returns at once. Batches enter stage 0 in submission order and every stage handles them
 *       first-in first-out, so a later batch may carry the next prompt chunk of a sequence whose previous chunk is
 *       still in flight (pipelined prefill). The scheduler keeps up to {@link #depth()} batches in flight.</li>
 *   <li>A sequence's KV cache is created on every stage when the sequence first appears (sized for
 *       {@link Row#reserve()} positions where caches are sized per sequence) and lives until {@link #release}.
 *       The scheduler calls {@code release} only when no batch holding the sequence is in flight.</li>
 *   <li>The last stage samples with the sequence's {@link Sampling} (the penalty history and the index of the next
 *       seeded draw are per-sequence state kept there until release, started from {@link Row#generated()} for a
 *       replayed sequence) and returns the token id, and its log-probability and the
 *       most likely alternatives when asked. Only token ids come back, never logits.</li>
 *   <li>A failure of one sequence is reported in {@link Result#failures()}; a failure of the whole step completes
 *       the future exceptionally with a message naming the stage, worker and layer range.</li>
 * </ul>
 */
public interface PipelineExecutor extends AutoCloseable {

    /** The stages in pipeline order: layer ranges, where they run, whether they are loaded. */
    List<StageInfo> stages();

    /** Every stage is loaded and linked: steps can be submitted. */
    boolean ready();

    /** Micro-batches to keep in flight so every stage has work: one per stage. */
    default int depth() {
        return Math.max(1, stages().size());
    }

    /** Token ids the last stage can sample: {@code [0, vocabSize)}. */
    int vocabSize();

    /** KV cache limits for admission control. */
    KvLimits kvLimits();

    /** Runs one step batch through every stage; completes with the sampled tokens. */
    CompletableFuture<Result> submit(Batch batch);

    /**
     * Whether a step that failed as a whole with {@code stepError} broke a pipeline that will be replaced (a worker
     * died and the cluster re-places the model): the scheduler then keeps its sequences and replays them once
     * {@link #ready()} again. False (the default): the sequences fail with the error.
     */
    default boolean recoverable(Throwable stepError) {
        return false;
    }

    /** Why no pipeline can come back (e.g. the remaining workers cannot hold the model), or null while one may. */
    default String unrecoverable() {
        return null;
    }

    /** Why the executor is not {@link #ready()} (null when ready or unknown), for messages. */
    default String notReadyReason() {
        return null;
    }

    /** Frees the sequence's KV cache (and sampler state) on every stage. Idempotent; returns at once. */
    void release(long seq);

    @Override
    void close();

    /**
     * One sequence's rows in a step: {@code tokens[i]} at position {@code start + i}. A prefill chunk carries
     * several prompt tokens; a decode row carries the last sampled token.
     *
     * @param seq      sequence id, unique for the executor's lifetime
     * @param tokens   token ids, at least one
     * @param start    position of {@code tokens[0]}
     * @param sample   whether the last stage samples the next token from the last row (false for a prefill chunk
     *                 that is not the prompt's last)
     * @param sampling how to sample (the same on every row of a sequence)
     * @param reserve  positions the sequence may use in all (prompt plus generated tokens), for executors that size
     *                 caches per sequence
     * @param generated the tokens the request generated before this sequence id existed (a replay after the pipeline
     *                 broke; empty otherwise), on the row where the last stage first samples the sequence: its sampler
     *                 starts from them (penalty history, index of the next seeded draw), so the replay goes on with
     *                 the tokens an undisturbed run samples
     */
    record Row(long seq, int[] tokens, int start, boolean sample, Sampling sampling, int reserve, int[] generated) {
        private static final int[] NONE = new int[0];

        public Row {
            if (tokens.length == 0) throw new IllegalArgumentException("sequence " + seq + ": a row needs at least one token");
            if (start < 0) throw new IllegalArgumentException("sequence " + seq + ": negative start position " + start);
            if (generated == null) generated = NONE;
        }

        /** A row of a sequence that generated nothing before this id. */
        public Row(long seq, int[] tokens, int start, boolean sample, Sampling sampling, int reserve) {
            this(seq, tokens, start, sample, sampling, reserve, NONE);
        }
    }

    /** One step: rows of several sequences, each sequence at most once. */
    record Batch(long id, List<Row> rows) {
        public int tokens() {
            int n = 0;
            for (Row r : rows) n += r.tokens().length;
            return n;
        }
    }

    /** A candidate token with its natural-log probability under the model's distribution (before sampling filters). */
    record TokenLogprob(int token, float logprob) {}

    /**
     * The token sampled for one sequence.
     *
     * @param logprob log-probability of {@code token} (NaN when logprobs were not asked)
     * @param top     the {@link Sampling#topLogprobs()} most likely tokens, most likely first (empty when not asked)
     */
    record SeqOutput(long seq, int token, float logprob, List<TokenLogprob> top) {}

    /** A sequence that failed inside a step (the others went on); {@code message} names stage, worker and layers. */
    record SeqFailure(long seq, String message) {}

    /** Time one stage spent on a step: waiting behind earlier steps, and computing (forward, sampling). */
    record StageTime(int stage, long queuedNanos, long computeNanos) {}

    /** The outcome of a step: one output per row that asked to sample. */
    record Result(long batchId, List<SeqOutput> outputs, List<SeqFailure> failures, List<StageTime> timings) {}

    /**
     * KV cache limits.
     *
     * @param maxSequences   sequences that can hold a cache at once
     * @param contextLength  positions one sequence may use
     * @param totalPositions positions all sequences together may use (at least {@code contextLength})
     */
    record KvLimits(int maxSequences, int contextLength, long totalPositions) {
        public KvLimits {
            if (maxSequences < 1 || contextLength < 1 || totalPositions < contextLength) {
                throw new IllegalArgumentException("bad KV limits: " + maxSequences + " sequences, context " + contextLength
                        + ", " + totalPositions + " positions in all");
            }
        }
    }

    /**
     * One stage as the dashboard and readiness see it. Values a pipeline cannot know are 0.
     *
     * @param index              position in the pipeline
     * @param firstLayer         first layer (global number)
     * @param endLayer           one past the last layer
     * @param worker             worker id or host (e.g. {@code local-0})
     * @param backend            backend name (cpu, metal)
     * @param ready              loaded and linked
     * @param weightBytes        bytes of the weights this stage reads
     * @param kvBytes            bytes of KV cache allocated now
     * @param residentBytes      resident memory of the stage's process
     * @param usableBytes        the memory budget of the stage's worker for weights, KV caches and activations
     * @param modelResidentBytes resident pages of the model file's mapping in the stage's process
     * @param bandwidthBytesPerSecond the worker's measured memory bandwidth
     * @param secondsPerLayer    the worker's measured (self-benchmark) decode time of one layer of the served model
     */
    record StageInfo(int index, int firstLayer, int endLayer, String worker, String backend, boolean ready,
                     long weightBytes, long kvBytes, long residentBytes, long usableBytes, long modelResidentBytes,
                     double bandwidthBytesPerSecond, double secondsPerLayer) {

        /** Without the worker's budget and measurements. */
        public StageInfo(int index, int firstLayer, int endLayer, String worker, String backend, boolean ready,
                         long weightBytes, long kvBytes, long residentBytes) {
            this(index, firstLayer, endLayer, worker, backend, ready, weightBytes, kvBytes, residentBytes, 0, 0, 0, 0);
        }

        /** The same stage, loaded and linked or not. */
        public StageInfo withReady(boolean now) {
            return new StageInfo(index, firstLayer, endLayer, worker, backend, now, weightBytes, kvBytes, residentBytes,
                    usableBytes, modelResidentBytes, bandwidthBytesPerSecond, secondsPerLayer);
        }
    }
}
