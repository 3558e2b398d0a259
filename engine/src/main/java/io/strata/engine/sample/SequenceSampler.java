package io.strata.engine.sample;

/**
 * One sequence's sampling state: its parameters, its random generator (seeded from the parameters, so a run is
 * reproducible), and the recent tokens the penalties look at. Lives with the sequence on the stage that samples;
 * the {@link Sampler} working buffers are shared by all sequences of that stage. Not thread-safe.
 */
public final class SequenceSampler {
    private final SamplingParams params;
    private final Xoshiro256 random;
    private final int[] recent;   // ring buffer of the last penaltyLastN accepted tokens
    private int recentCount;
    private int recentNext;

    public SequenceSampler(SamplingParams params) {
        this.params = params;
        this.random = new Xoshiro256(params.seed());
        this.recent = new int[params.hasPenalties() ? params.penaltyLastN() : 0];
    }

    public SamplingParams params() {
        return params;
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

    /** Copies the recent tokens into {@code out}; returns how many. */
    int recent(int[] out) {
        for (int i = 0; i < recentCount; i++) out[i] = recent[i];
        return recentCount;
    }

    int recentCapacity() {
        return recent.length;
    }

    /** A uniform double in [0, 1). */
    double nextDouble() {
        return random.nextDouble();
    }

    /** xoshiro256** seeded through splitmix64: fast, and the same numbers on every JVM. */
    static final class Xoshiro256 {
        private long s0;
        private long s1;
        private long s2;
        private long s3;

        Xoshiro256(long seed) {
            long x = seed;
            s0 = splitmix(x += 0x9E3779B97F4A7C15L);
            s1 = splitmix(x += 0x9E3779B97F4A7C15L);
            s2 = splitmix(x += 0x9E3779B97F4A7C15L);
            s3 = splitmix(x + 0x9E3779B97F4A7C15L);
        }

        private static long splitmix(long z) {
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        long next() {
            long result = Long.rotateLeft(s1 * 5, 7) * 9;
            long t = s1 << 17;
            s2 ^= s0;
            s3 ^= s1;
            s1 ^= s2;
            s0 ^= s3;
            s2 ^= t;
            s3 = Long.rotateLeft(s3, 45);
            return result;
        }

        double nextDouble() {
            return (next() >>> 11) * 0x1.0p-53;
        }
    }
}
