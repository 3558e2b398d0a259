package io.strata.engine.sample;

/**
 * One sequence's sampling state: its parameters, the index of the next token it generates, and the recent tokens the
 * penalties look at. Lives with the sequence on the stage that samples; the {@link Sampler} working buffers are shared
 * by all sequences of that stage. Not thread-safe.
 *
 * <p>The random number behind the draw of generated token {@code i} is a pure function of (seed, i): no generator
 * state is carried from one token to the next. So a sequence moved to another sampler (a new last stage after a
 * worker died) continues with the tokens an undisturbed run would have drawn, once it is given the tokens generated
 * so far ({@link #resume}).
 */
public final class SequenceSampler {
    private final SamplingParams params;
    private final long seedMix;   // the seed, mixed once
    private long index;           // how many tokens this sequence has generated: the index of the next draw
    private final int[] recent;   // ring buffer of the last penaltyLastN accepted tokens
    private int recentCount;
    private int recentNext;

    public SequenceSampler(SamplingParams params) {
        this.params = params;
        this.seedMix = mix(params.seed() ^ 0x6A09E667F3BCC909L);
        this.recent = new int[params.hasPenalties() ? params.penaltyLastN() : 0];
    }

    public SamplingParams params() {
        return params;
    }

    /** How many tokens this sequence has generated (sampled, or restored by {@link #resume}). */
    public long generated() {
        return index;
    }

    /** Records a token the penalties should see: every sampled token (the sampler does it) and, if wanted, the prompt. */
    public void accept(int token) {
        if (recent.length == 0) return;
        recent[recentNext] = token;
        recentNext = (recentNext + 1) % recent.length;
        if (recentCount < recent.length) recentCount++;
    }

    /** Records the prompt's tokens, as llama.cpp's server does before generating. */
    public void accept(int[] tokens) {
        for (int t : tokens) accept(t);
    }

    /**
     * Continues a sequence whose first tokens another sampler generated: {@code generated} (in order) enter the penalty
     * history as if sampled here, and the next draw is that of token {@code generated.length}. A sampler resumed with
     * the tokens an earlier one produced then produces the same next tokens from the same logits. Call it before the
     * first {@link Sampler#sample} (after the prompt's {@link #accept(int[])}, if the prompt counts).
     */
    public void resume(int[] generated) {
        if (index != 0) throw new IllegalStateException("resume after " + index + " tokens were already generated");
        accept(generated);
        index = generated.length;
    }

    /** Records a token the sampler just generated: penalty history, and the next draw index. */
    void sampled(int token) {
        accept(token);
        index++;
    }

    /** The uniform double in [0, 1) of the draw for the next generated token: a function of (seed, index) only. */
    double nextDouble() {
        return (mix(seedMix + (index + 1) * GOLDEN) >>> 11) * 0x1.0p-53;
    }

    int recent(int[] out) {
        for (int i = 0; i < recentCount; i++) out[i] = recent[i];
        return recentCount;
    }

    int recentCapacity() {
        return recent.length;
    }

    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /** splitmix64's finalizer (Stafford's variant 13): a bijective 64-bit mixer; consecutive inputs give independent-looking outputs. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
