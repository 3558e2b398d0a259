package io.strata.coordinator.placement;

import io.strata.engine.util.Bytes;
import java.util.ArrayList;
import java.util.List;

/**
 * Placement as a pure function: which worker holds which contiguous layer range.
 *
 * <p>Objective: minimise the slowest stage's decode time per token (with several micro-batches in flight the
 * slowest stage sets the pipeline's pace), subject to each worker's memory holding its weights, the KV caches of
 * {@code maxSequences} sequences of {@code contextLength} positions for its layers, and its activation buffers. Ties
 * go to fewer stages (fewer network hops), then to the order the workers were given.
 *
 * <p>Method: for a fixed order of workers, an exact dynamic program over (worker, layers placed so far), where a
 * worker may take no layers (it is then left out). The head (last layer's stage) and the embedding (first stage)
 * are tied to ranges, not to workers, so the order only decides who gets them: the program runs for the given order
 * and for each worker moved to the end, and keeps the best. Cost O((W + 1) · W · L²), well under a second for 16
 * workers and 126 layers.
 */
public final class Placement {
    private static final double EPS = 1e-9;

    private Placement() {
    }

    /** A worker that may take layers. {@code layerSeconds[l]} is its decode time for layer {@code l}. */
    public record Candidate(String id, long memoryBytes, double[] layerSeconds, double headSeconds) {
    }

    /** One stage of a placement. */
    public record StagePlan(int stage, String workerId, int first, int end, long weightBytes, long kvBytes,
                            long activationBytes, long memoryBytes, double seconds) {
        public long totalBytes() {
            return weightBytes + kvBytes + activationBytes;
        }
    }

    /** The result: either stages, or why the model does not fit. */
    public sealed interface Result permits Placed, Unfit {
    }

    public record Placed(List<StagePlan> stages, double bottleneckSeconds, double sumSeconds) implements Result {
    }

    public record Unfit(String reason) implements Result {
    }

    public static Result place(ModelProfile m, List<Candidate> workers) {
        if (workers.isEmpty()) return new Unfit("no workers to place " + m.name() + " on");
        for (Candidate c : workers) {
            if (c.layerSeconds().length != m.layers()) {
                throw new IllegalArgumentException("worker " + c.id() + " has " + c.layerSeconds().length + " layer times, the model has " + m.layers() + " layers");
            }
        }
        Placed best = null;
        List<List<Candidate>> orders = new ArrayList<>();
        orders.add(workers);
        if (workers.size() > 1) {
            for (int i = 0; i < workers.size(); i++) {
                List<Candidate> o = new ArrayList<>(workers);
                o.add(o.remove(i));
                if (!o.equals(workers)) orders.add(o);
            }
        }
        for (List<Candidate> order : orders) {
            Placed p = placeInOrder(m, order);
            if (p != null && better(p, best)) best = p;
        }
        return best != null ? best : new Unfit(whyUnfit(m, workers));
    }

    /** A stage of an earlier placement: which worker held which range. */
    public record Held(String workerId, int first, int end) {
    }

    /**
     * The earlier placement {@code previous}, repaired: every stage whose worker is still among {@code workers} keeps
     * its worker and range (so it keeps its loaded weights and caches), and every other stage goes to a worker the
     * earlier placement did not use, the fastest one for that range that fits its memory (the largest orphaned ranges
     * choose first). Null when {@code previous} does not cover the model's layers in order, when a kept stage no
     * longer fits its worker, or when an orphaned range finds no free worker. Only the orphaned ranges then load, where
     * a fresh {@link #place} may move every stage.
     */
    public static Placed repair(ModelProfile m, List<Candidate> workers, List<Held> previous) {
        if (previous.isEmpty()) return null;
        java.util.Map<String, Candidate> byId = new java.util.LinkedHashMap<>();
        for (Candidate c : workers) byId.put(c.id(), c);
        int expectFirst = 0;
        java.util.Set<String> used = new java.util.HashSet<>();
        for (Held h : previous) {
            if (h.first() != expectFirst || h.end() <= h.first()) return null;
            expectFirst = h.end();
            used.add(h.workerId());
        }
        if (expectFirst != m.layers()) return null;
        Candidate[] chosen = new Candidate[previous.size()];
        List<Integer> orphans = new ArrayList<>();
        for (int i = 0; i < previous.size(); i++) {
            Held h = previous.get(i);
            Candidate c = byId.get(h.workerId());
            if (c == null) {
                orphans.add(i);
            } else {
                if (!fits(m, c, h.first(), h.end())) return null;
                chosen[i] = c;
            }
        }
        if (orphans.isEmpty()) return null;  // nothing to repair: the earlier placement stands as it is
        orphans.sort((x, y) -> Long.compare(m.stageBytes(previous.get(y).first(), previous.get(y).end()),
                m.stageBytes(previous.get(x).first(), previous.get(x).end())));
        for (int i : orphans) {
            Held h = previous.get(i);
            Candidate best = null;
            for (Candidate c : workers) {
                if (used.contains(c.id()) || !fits(m, c, h.first(), h.end())) continue;
                if (best == null || seconds(m, c, h.first(), h.end()) < seconds(m, best, h.first(), h.end())) best = c;
            }
            if (best == null) return null;
            used.add(best.id());
            chosen[i] = best;
        }
        List<StagePlan> stages = new ArrayList<>();
        double bottleneck = 0;
        double total = 0;
        for (int i = 0; i < previous.size(); i++) {
            Held h = previous.get(i);
            Candidate c = chosen[i];
            double s = seconds(m, c, h.first(), h.end());
            stages.add(new StagePlan(i, c.id(), h.first(), h.end(), m.weightBytes(h.first(), h.end()), m.kvBytes(h.first(), h.end()),
                    m.activationBytes(h.end() == m.layers()), c.memoryBytes(), s));
            bottleneck = Math.max(bottleneck, s);
            total += s;
        }
        return new Placed(List.copyOf(stages), bottleneck, total);
    }

    private static boolean better(Placed a, Placed b) {
        if (b == null) return true;
        if (a.bottleneckSeconds() < b.bottleneckSeconds() * (1 - EPS)) return true;
        if (a.bottleneckSeconds() > b.bottleneckSeconds() * (1 + EPS)) return false;
        if (a.stages().size() != b.stages().size()) return a.stages().size() < b.stages().size();
        return a.sumSeconds() < b.sumSeconds() * (1 - EPS);
    }

    /** Exact min-max split for one worker order; null when nothing fits. */
    static Placed placeInOrder(ModelProfile m, List<Candidate> order) {
        int w = order.size();
        int layers = m.layers();
        double inf = Double.POSITIVE_INFINITY;
        // Phase 1: smallest achievable bottleneck. best[i][l] = min over splits of layers [0, l) on workers [0, i).
        double[][] best = new double[w + 1][layers + 1];
        for (double[] row : best) java.util.Arrays.fill(row, inf);
        best[0][0] = 0;
        for (int i = 1; i <= w; i++) {
            Candidate c = order.get(i - 1);
            for (int l = 0; l <= layers; l++) {
                double v = best[i - 1][l];  // worker i-1 takes nothing
                for (int k = 0; k < l; k++) {
                    if (best[i - 1][k] == inf || !fits(m, c, k, l)) continue;
                    v = Math.min(v, Math.max(best[i - 1][k], seconds(m, c, k, l)));
                }
                best[i][l] = v;
            }
        }
        double target = best[w][layers];
        if (target == inf) return null;
        double limit = target * (1 + EPS) + 1e-15;
        // Phase 2: fewest stages whose every stage stays within the bottleneck; then the smallest sum.
        int[][] count = new int[w + 1][layers + 1];
        double[][] sum = new double[w + 1][layers + 1];
        int[][] from = new int[w + 1][layers + 1];
        for (int[] row : count) java.util.Arrays.fill(row, Integer.MAX_VALUE);
        count[0][0] = 0;
        for (int i = 1; i <= w; i++) {
            Candidate c = order.get(i - 1);
            for (int l = 0; l <= layers; l++) {
                int bc = count[i - 1][l];
                double bs = sum[i - 1][l];
                int bf = l;
                for (int k = 0; k < l; k++) {
                    if (count[i - 1][k] == Integer.MAX_VALUE || !fits(m, c, k, l)) continue;
                    double s = seconds(m, c, k, l);
                    if (s > limit) continue;
                    int cc = count[i - 1][k] + 1;
                    double ss = sum[i - 1][k] + s;
                    if (cc < bc || (cc == bc && ss < bs * (1 - EPS))) {
                        bc = cc;
                        bs = ss;
                        bf = k;
                    }
                }
                count[i][l] = bc;
                sum[i][l] = bs;
                from[i][l] = bf;
            }
        }
        List<StagePlan> stages = new ArrayList<>();
        int l = layers;
        for (int i = w; i >= 1; i--) {
            int k = from[i][l];
            if (k < l) {
                Candidate c = order.get(i - 1);
                stages.add(0, new StagePlan(0, c.id(), k, l, m.weightBytes(k, l), m.kvBytes(k, l), m.activationBytes(l == layers),
                        c.memoryBytes(), seconds(m, c, k, l)));
            }
            l = k;
        }
        double bottleneck = 0;
        double total = 0;
        List<StagePlan> numbered = new ArrayList<>();
        for (int i = 0; i < stages.size(); i++) {
            StagePlan s = stages.get(i);
            numbered.add(new StagePlan(i, s.workerId(), s.first(), s.end(), s.weightBytes(), s.kvBytes(), s.activationBytes(),
                    s.memoryBytes(), s.seconds()));
            bottleneck = Math.max(bottleneck, s.seconds());
            total += s.seconds();
        }
        return new Placed(List.copyOf(numbered), bottleneck, total);
    }

    static boolean fits(ModelProfile m, Candidate c, int first, int end) {
        return m.stageBytes(first, end) <= c.memoryBytes();
    }

    static double seconds(ModelProfile m, Candidate c, int first, int end) {
        double s = 0;
        for (int l = first; l < end; l++) s += c.layerSeconds()[l];
        if (end == m.layers()) s += c.headSeconds();
        return s;
    }

    private static String whyUnfit(ModelProfile m, List<Candidate> workers) {
        long total = m.stageBytes(0, m.layers());
        long offered = 0;
        long largest = 0;
        String largestId = "";
        for (Candidate c : workers) {
            offered += c.memoryBytes();
            if (c.memoryBytes() > largest) {
                largest = c.memoryBytes();
                largestId = c.id();
            }
        }
        String need = m.name() + " needs " + Bytes.format(m.weightBytes(0, m.layers())) + " of weights + "
                + Bytes.format(m.kvBytes(0, m.layers())) + " of KV cache (" + m.maxSequences() + " sequences x "
                + m.contextLength() + " positions, " + m.kvType() + ")";
        // Each stage also needs its own activation buffers, so the total with k stages is a little higher.
        long withActivations = total + (long) (workers.size() - 1) * m.activationBytes(false);
        if (withActivations > offered) {
            return need + " = " + Bytes.format(total) + " in all, but the " + workers.size() + " worker"
                    + (workers.size() == 1 ? " offers " : "s offer ") + Bytes.format(offered) + " (short by "
                    + Bytes.format(withActivations - offered) + "): add workers or memory, or lower the context length or the number of sequences";
        }
        for (int l = 0; l < m.layers(); l++) {
            boolean edge = l == 0 || l == m.layers() - 1;
            long alone = m.stageBytes(l, l + 1);
            if (alone > largest) {
                return need + "; layer " + l + (edge ? (l == 0 ? " with the embedding" : " with the output head") : "")
                        + " alone needs " + Bytes.format(alone) + " but the largest worker (" + largestId + ") offers "
                        + Bytes.format(largest);
            }
        }
        return need + " = " + Bytes.format(total) + "; the " + workers.size() + " workers offer " + Bytes.format(offered)
                + " in all, but no split into contiguous layer ranges fits each worker's memory (each stage also needs "
                + Bytes.format(m.activationBytes(false)) + " of activation buffers)";
    }
}
