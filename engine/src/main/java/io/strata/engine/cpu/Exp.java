package io.strata.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * e^x in float precision for whole vectors, with a scalar twin that gives the same bits.
 *
 * <p>{@link Math#exp} is a scalar call per element (SiLU took 2-3% of a 1B model's decode with it), and the Vector
 * API's {@code EXP} is not reproducible: C2 compiles it to a vector library call whose results differ from the
 * interpreter's and C1's (1 ulp on about 0.3% of inputs), so the same activations would give different logits before
 * and after the JIT warms up. This one uses only operations with exact IEEE results in every tier (fused multiply-add,
 * add, multiply, integer shifts): range reduction to {@code x = n ln 2 + r}, |r| <= ln 2 / 2, then Cephes' degree-6
 * polynomial for e^r, scaled by 2^n through the exponent bits. Error within 2 ulp of the exact value (ExpTest).
 * Arguments are clamped to [{@link #LO}, {@link #HI}], where 2^n is a normal float: e^x for smaller x is about
 * 1.2e-38 instead of a subnormal or zero, for larger x about 2.2e38 instead of up to infinity. NaN stays NaN.
 */
final class Exp {
    static final float LO = -87.3f;
    static final float HI = 88.3f;
    private static final float LOG2E = 1.44269504088896341f;
    /** 1.5 * 2^23: adding it rounds to an integer, held in the low mantissa bits. */
    private static final float ROUND = 12582912f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500e-4f;
    private static final float P1 = 1.3981999507e-3f;
    private static final float P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f;
    private static final float P4 = 1.6666665459e-1f;
    private static final float P5 = 5.0000001201e-1f;

    private Exp() {
    }

    static float exp(float x) {
        x = Math.min(Math.max(x, LO), HI);
        float t = Math.fma(x, LOG2E, ROUND);
        float n = t - ROUND;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(P0, r, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        p = Math.fma(p, r * r, r) + 1f;
        int scale = (Float.floatToRawIntBits(t) - Float.floatToRawIntBits(ROUND) + 127) << 23;
        return p * Float.intBitsToFloat(scale);
    }

    static FloatVector exp(FloatVector x) {
        VectorSpecies<Float> sp = x.species();
        x = x.max(LO).min(HI);
        FloatVector t = x.fma(LOG2E, ROUND);
        FloatVector n = t.sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(sp, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(sp, -LN2_LO), r);
        FloatVector p = r.fma(P0, P1);
        p = p.fma(r, FloatVector.broadcast(sp, P2));
        p = p.fma(r, FloatVector.broadcast(sp, P3));
        p = p.fma(r, FloatVector.broadcast(sp, P4));
        p = p.fma(r, FloatVector.broadcast(sp, P5));
        p = p.fma(r.mul(r), r).add(1f);
        IntVector scale = ((IntVector) t.reinterpretAsInts()).sub(Float.floatToRawIntBits(ROUND) - 127).lanewise(VectorOperators.LSHL, 23);
        return p.mul(scale.reinterpretAsFloats());
    }
}
