package io.strata.coordinator.scheduler;

import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counts of durations in fixed buckets (Prometheus style, cumulative upper bounds in seconds), safe to update from
 * one thread and read from any. Quantiles are estimated by linear interpolation inside the bucket.
 */
public final class LatencyHistogram {
    private final double[] bounds;      // upper bounds in seconds, ascending; +Inf implied
    private final LongAdder[] counts;   // per bucket, not cumulative; last = above every bound
    private final DoubleAdder sum = new DoubleAdder();

    public LatencyHistogram(double... boundsSeconds) {
        this.bounds = boundsSeconds.clone();
        this.counts = new LongAdder[bounds.length + 1];
        for (int i = 0; i < counts.length; i++) counts[i] = new LongAdder();
    }

    public void observeNanos(long nanos) {
        double s = nanos / 1e9;
        int i = 0;
        while (i < bounds.length && s > bounds[i]) i++;
        counts[i].increment();
        sum.add(s);
    }

    public double[] bounds() {
        return bounds.clone();
    }

    /** Cumulative counts per bound, then the total (the +Inf bucket). */
    public long[] cumulative() {
        long[] c = new long[counts.length];
        long run = 0;
        for (int i = 0; i < counts.length; i++) {
            run += counts[i].sum();
            c[i] = run;
        }
        return c;
    }

    public double sumSeconds() {
        return sum.sum();
    }

    public long count() {
        long n = 0;
        for (LongAdder a : counts) n += a.sum();
        return n;
    }

    /** Estimated quantile {@code q} in seconds (NaN when empty; the top bound when it falls above every bound). */
    public double quantile(double q) {
        long[] c = cumulative();
        long total = c[c.length - 1];
        if (total == 0) return Double.NaN;
        double rank = q * total;
        for (int i = 0; i < c.length; i++) {
            if (c[i] >= rank) {
                if (i == bounds.length) return bounds[bounds.length - 1];
                double lo = i == 0 ? 0 : bounds[i - 1];
                long below = i == 0 ? 0 : c[i - 1];
                long in = c[i] - below;
                return in == 0 ? bounds[i] : lo + (bounds[i] - lo) * (rank - below) / in;
            }
        }
        return bounds[bounds.length - 1];
    }
}
