package io.strata.engine.cpu;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExpTest {

    private static final int L = VectorKernels.FS.length();

    @Test
    void withinTwoUlpOfTheExactValueOverTheWholeRange() {
        double worst = 0;
        float worstAt = 0;
        for (float x = Exp.LO; x <= Exp.HI; x = Math.nextUp(x + 1e-4f * Math.max(1f, Math.abs(x)))) {
            double exact = Math.exp(x); // double: exact to far below a float ulp
            double ulps = Math.abs(Exp.exp(x) - exact) / Math.ulp((float) exact);
            if (ulps > worst) {
                worst = ulps;
                worstAt = x;
            }
        }
        assertTrue(worst <= 2, "worst error " + worst + " ulp at x = " + worstAt);
    }

    @Test
    void vectorAndScalarGiveTheSameBits() {
        SplittableRandom r = new SplittableRandom(7);
        float[] x = new float[L * 4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = switch (i % 4) {
                case 0 -> (float) r.nextDouble(-100, 100);
                case 1 -> (float) r.nextDouble(-1, 1);
                case 2 -> (float) (r.nextGaussian() * 5);
                default -> Float.intBitsToFloat(r.nextInt()); // any bits: huge, tiny, subnormal, NaN, infinite
            };
        }
        x[0] = Float.NaN;
        x[1] = Float.POSITIVE_INFINITY;
        x[2] = Float.NEGATIVE_INFINITY;
        x[3] = -0f;
        // Enough rounds for C2 to compile the vector path (its first calls run in the interpreter and C1).
        for (int round = 0; round < 20; round++) {
            float[] v = new float[x.length];
            for (int i = 0; i < x.length; i += L) Exp.exp(FloatVector.fromArray(VectorKernels.FS, x, i)).intoArray(v, i);
            for (int i = 0; i < x.length; i++) {
                float s = Exp.exp(x[i]);
                if (Float.floatToRawIntBits(s) != Float.floatToRawIntBits(v[i]) && !(Float.isNaN(s) && Float.isNaN(v[i]))) {
                    throw new AssertionError("x = " + x[i] + " (bits " + Integer.toHexString(Float.floatToRawIntBits(x[i]))
                            + "): scalar " + s + ", vector " + v[i] + " in round " + round);
                }
            }
        }
    }

    @Test
    void edgesAreClampedAndNaNStaysNaN() {
        assertEquals(1f, Exp.exp(0f));
        assertEquals(1f, Exp.exp(-0f));
        assertTrue(Float.isNaN(Exp.exp(Float.NaN)));
        assertEquals(Exp.exp(Exp.HI), Exp.exp(Float.POSITIVE_INFINITY));
        assertEquals(Exp.exp(Exp.LO), Exp.exp(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isFinite(Exp.exp(Float.POSITIVE_INFINITY)) && Exp.exp(Exp.HI) > 2e38f);
        float tiny = Exp.exp(-1000f);
        assertTrue(tiny > 0 && tiny < 2e-38f && tiny >= Float.MIN_NORMAL, "e^-1000 clamps to " + tiny);
    }
}
