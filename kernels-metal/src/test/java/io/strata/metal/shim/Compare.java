package io.strata.metal.shim;

/** Element-wise comparison of kernel output with a reference, with a message naming the first bad element. */
public final class Compare {
    private Compare() {
    }

    /**
     * Fails when any {@code |actual - expected| > atol + rtol * |expected|}, or when actual is NaN/infinite where
     * expected is finite. Returns the largest error relative to {@code max(|expected|, 1)} for reporting.
     */
    public static double assertClose(String what, float[] expected, float[] actual, double rtol, double atol) {
        if (expected.length != actual.length) {
            throw new AssertionError(what + ": " + actual.length + " values, expected " + expected.length);
        }
        double worst = 0;
        int bad = -1;
        int nbad = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            double a = actual[i];
            double err = Math.abs(a - e);
            boolean ok = Double.isFinite(e) ? Double.isFinite(a) && err <= atol + rtol * Math.abs(e) : Double.compare(a, e) == 0;
            if (!ok) {
                nbad++;
                if (bad < 0) {
                    bad = i;
                }
            }
            if (Double.isFinite(e)) {
                worst = Math.max(worst, Double.isFinite(a) ? err / Math.max(Math.abs(e), 1.0) : Double.POSITIVE_INFINITY);
            }
        }
        if (bad >= 0) {
            throw new AssertionError(what + ": " + nbad + " of " + expected.length + " values wrong; first at [" + bad + "]: got "
                    + actual[bad] + ", expected " + expected[bad] + " (rtol " + rtol + ", atol " + atol + ")");
        }
        return worst;
    }
}
