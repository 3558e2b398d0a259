package io.strata.engine.model;

import java.nio.charset.StandardCharsets;

/**
 * Seeded standard normal numbers for synthetic weights: SplitMix64 for the bits and the Marsaglia-Tsang ziggurat
 * (128 layers) for the shape. About 99% of draws take the fast path (one 64-bit draw, a table lookup, a compare and
 * a multiply), which is what makes writing a 405B-shaped file's billions of weights practical; the slow path is
 * the exact rejection step, so the distribution is the normal one, not an approximation. The layer index comes from
 * other bits than the value (avoiding the original's correlation between the two).
 *
 * <p>Each stream is seeded from (seed, tensor name, row), so a row's values depend on nothing else: not on the
 * file type, the thread that fills it, or the other tensors.
 */
final class SynthRandom {
    private static final int LAYERS = 128;
    private static final double R = 3.442619855899; // start of the tail
    private static final double V = 9.91256303526217e-3; // area of each layer
    private static final double M = 2147483648.0; // 2^31: hz is a signed 32-bit draw
    private static final long[] K = new long[LAYERS];
    private static final double[] W = new double[LAYERS];
    private static final double[] F = new double[LAYERS];

    static {
        double dn = R, tn = R;
        double q = V / Math.exp(-0.5 * dn * dn);
        K[0] = (long) (dn / q * M);
        K[1] = 0;
        W[0] = q / M;
        W[LAYERS - 1] = dn / M;
        F[0] = 1.0;
        F[LAYERS - 1] = Math.exp(-0.5 * dn * dn);
        for (int i = LAYERS - 2; i >= 1; i--) {
            dn = Math.sqrt(-2.0 * Math.log(V / dn + Math.exp(-0.5 * dn * dn)));
            K[i + 1] = (long) (dn / tn * M);
            tn = dn;
            F[i] = Math.exp(-0.5 * dn * dn);
            W[i] = dn / M;
        }
    }

    private long state;

    SynthRandom(long seed) {
        this.state = seed;
    }

    /** The stream of row {@code row} of tensor {@code name} under {@code seed}. */
    static SynthRandom forRow(long seed, String name, long row) {
        return new SynthRandom(mix(mix(seed ^ fnv1a64(name)) + row * 0x9E3779B97F4A7C15L));
    }

    /** SplitMix64. */
    long nextLong() {
        long z = (state += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in (0, 1), never 0 (it goes into a log). */
    double nextUniform() {
        return ((nextLong() >>> 11) + 0.5) * 0x1.0p-53;
    }

    /** A standard normal value. */
    double nextGaussian() {
        long bits = nextLong();
        int hz = (int) bits;
        int iz = (int) (bits >>> 32) & (LAYERS - 1);
        if (Math.abs((long) hz) < K[iz]) return hz * W[iz];
        return slow(hz, iz);
    }

    private double slow(int hz, int iz) {
        for (;;) {
            double x = hz * W[iz];
            if (iz == 0) {
                double xx, y;
                do {
                    xx = -Math.log(nextUniform()) / R;
                    y = -Math.log(nextUniform());
                } while (y + y < xx * xx);
                return hz > 0 ? R + xx : -R - xx;
            }
            if (F[iz] + nextUniform() * (F[iz - 1] - F[iz]) < Math.exp(-0.5 * x * x)) return x;
            long bits = nextLong();
            hz = (int) bits;
            iz = (int) (bits >>> 32) & (LAYERS - 1);
            if (Math.abs((long) hz) < K[iz]) return hz * W[iz];
        }
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static long fnv1a64(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) h = (h ^ (b & 0xff)) * 0x100000001b3L;
        return h;
    }
}
