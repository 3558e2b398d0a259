package io.strata.engine.model;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ziggurat sampler against the normal distribution's own numbers (fixed seed, so the test is deterministic). */
class SynthRandomTest {

    private static final int N = 4_000_000;

    @Test
    void moments() {
        SynthRandom r = new SynthRandom(42);
        double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
        for (int i = 0; i < N; i++) {
            double x = r.nextGaussian();
            s1 += x;
            s2 += x * x;
            s3 += x * x * x;
            s4 += x * x * x * x;
        }
        // standard errors at N = 4e6: mean 5e-4, variance 7e-4, skewness 1.2e-3, kurtosis 2.4e-3 (checked at 5 sigma)
        assertEquals(0, s1 / N, 2.5e-3, "mean");
        assertEquals(1, s2 / N, 3.5e-3, "variance");
        assertEquals(0, s3 / N, 6e-3, "third moment");
        assertEquals(3, s4 / N, 1.2e-2, "fourth moment");
    }

    /** The empirical CDF at 49 points from -6 to 6 against Phi, within 5 binomial standard errors. */
    @Test
    void distributionFunction() {
        double[] at = new double[49];
        for (int i = 0; i < at.length; i++) at[i] = -6 + 0.25 * i;
        long[] below = new long[at.length];
        SynthRandom r = new SynthRandom(7);
        long tail = 0;
        for (int i = 0; i < N; i++) {
            double x = r.nextGaussian();
            for (int k = 0; k < at.length; k++) if (x < at[k]) below[k]++;
            if (Math.abs(x) > 3.442619855899) tail++;
        }
        for (int k = 0; k < at.length; k++) {
            double p = phi(at[k]);
            double se = Math.sqrt(Math.max(p * (1 - p), 1.0 / N) / N);
            assertEquals(p, below[k] / (double) N, 5 * se + 1e-7, "P(x < " + at[k] + ")");
        }
        // the tail beyond the ziggurat's base strip (drawn by the slow path): 2 * (1 - Phi(r)) = 5.76e-4
        double pt = 2 * (1 - phi(3.442619855899));
        assertEquals(pt, tail / (double) N, 5 * Math.sqrt(pt / N), "tail beyond r");
    }

    @Test
    void streamsDependOnSeedNameAndRow() {
        double a = SynthRandom.forRow(1, "blk.0.attn_q.weight", 0).nextGaussian();
        assertEquals(a, SynthRandom.forRow(1, "blk.0.attn_q.weight", 0).nextGaussian());
        assertNotEquals(a, SynthRandom.forRow(2, "blk.0.attn_q.weight", 0).nextGaussian());
        assertNotEquals(a, SynthRandom.forRow(1, "blk.0.attn_k.weight", 0).nextGaussian());
        assertNotEquals(a, SynthRandom.forRow(1, "blk.0.attn_q.weight", 1).nextGaussian());
        // neighbouring rows are uncorrelated
        int n = 16384;
        double sxy = 0;
        SynthRandom r0 = SynthRandom.forRow(1, "t", 10), r1 = SynthRandom.forRow(1, "t", 11);
        for (int i = 0; i < n; i++) sxy += r0.nextGaussian() * r1.nextGaussian();
        assertTrue(Math.abs(sxy / n) < 5 / Math.sqrt(n), "correlation " + sxy / n);
    }

    /** Standard normal CDF via the Chebyshev-fitted erfc of Numerical Recipes (fractional error below 1.2e-7). */
    static double phi(double x) {
        return 0.5 * erfc(-x / Math.sqrt(2));
    }

    private static double erfc(double x) {
        double z = Math.abs(x);
        double t = 1 / (1 + 0.5 * z);
        double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
