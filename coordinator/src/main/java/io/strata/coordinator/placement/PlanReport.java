package io.strata.coordinator.placement;

import io.strata.engine.util.Bytes;
import java.util.Locale;

/** The plan and its memory table as text for operators ({@code strata plan}, logs). */
public final class PlanReport {
    private PlanReport() {
    }

    public static String render(ModelProfile m, Placement.Result r) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "model %s: %d layers, %s of weights; KV %s x %d positions x %d sequences%n",
                m.name(), m.layers(), Bytes.format(m.weightBytes(0, m.layers())), m.kvType(), m.contextLength(), m.maxSequences()));
        if (r instanceof Placement.Unfit u) {
            sb.append("does not fit: ").append(u.reason()).append('\n');
            return sb.toString();
        }
        Placement.Placed p = (Placement.Placed) r;
        String fmt = "%-5s %-24s %-11s %10s %10s %10s %10s %10s %8s %10s%n";
        sb.append(String.format(Locale.ROOT, fmt, "stage", "worker", "layers", "weights", "kv cache", "buffers", "total",
                "memory", "used", "ms/token"));
        for (Placement.StagePlan s : p.stages()) {
            sb.append(String.format(Locale.ROOT, fmt, s.stage(), s.workerId(), "[" + s.first() + ", " + s.end() + ")",
                    Bytes.format(s.weightBytes()), Bytes.format(s.kvBytes()), Bytes.format(s.activationBytes()),
                    Bytes.format(s.totalBytes()), Bytes.format(s.memoryBytes()),
                    String.format(Locale.ROOT, "%.0f%%", 100.0 * s.totalBytes() / s.memoryBytes()),
                    String.format(Locale.ROOT, "%.2f", s.seconds() * 1e3)));
        }
        sb.append(String.format(Locale.ROOT, "slowest stage %.2f ms/token; compute per token %.2f ms over %d stage%s (single stream, before network)%n",
                p.bottleneckSeconds() * 1e3, p.sumSeconds() * 1e3, p.stages().size(), p.stages().size() == 1 ? "" : "s"));
        return sb.toString();
    }
}
