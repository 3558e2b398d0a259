package io.strata.coordinator;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The stored plan: which worker holds which layers of which model, under which limits. Versioned; kept in
 * ZooKeeper so a new leader takes over the running cluster.
 */
public record Plan(long version, String coordinator, String fileName, String fingerprint, Checksums checksums,
                   int contextLength, int maxSequences, String kvType, String activations, int maxBatch,
                   List<Stage> stages, double bottleneckSeconds) {

    /** CRC32C of each layer's tensors, of the embedding and of the head; null = not checked. */
    public record Checksums(int[] layers, int embedding, int head) {
    }

    public record Stage(int index, String workerId, String address, int first, int end, long weightBytes, long kvBytes,
                        double secondsPerToken) {
        public String range() {
            return "[" + first + ", " + end + ")";
        }
    }

    public Stage first() {
        return stages.getFirst();
    }

    public Stage last() {
        return stages.getLast();
    }

    public Stage stageOf(String workerId) {
        for (Stage s : stages) if (s.workerId().equals(workerId)) return s;
        return null;
    }

    /** Same model and serving limits (the stages may differ). */
    public boolean sameTarget(String fingerprint, int contextLength, int maxSequences, String kvType, String activations, int maxBatch) {
        return this.fingerprint.equals(fingerprint) && this.contextLength == contextLength && this.maxSequences == maxSequences
                && this.kvType.equals(kvType) && this.activations.equals(activations) && this.maxBatch == maxBatch;
    }

    /**
     * How many of this plan's stages can compute at the same time, which is how many micro-batches are worth keeping in
     * flight: more only split the same rows into smaller batches, and a batch's cost per row falls with its rows.
     * Stages on different hosts all can. Stages that share a host (same address, port aside, as the workers of
     * {@code strata local} do) share its processors: CPU workers as many at once as their threads fit in the host's
     * processors (at least one), GPU workers one at a time (one device). A stage whose worker's record does not say
     * how many processors it has (an older worker, or one no longer registered) counts as one on a host of its own.
     */
    public int concurrentStages(Map<String, WorkerInfo> workers) {
        int n = 0;
        Map<String, List<WorkerInfo>> byHost = new HashMap<>();
        for (Stage s : stages) {
            WorkerInfo w = workers.get(s.workerId());
            if (w == null || w.cpus() <= 0) {
                n++;
            } else {
                byHost.computeIfAbsent(host(s.address()), h -> new ArrayList<>()).add(w);
            }
        }
        for (List<WorkerInfo> ws : byHost.values()) {
            int cpus = 0;
            boolean gpu = false;
            List<Integer> threads = new ArrayList<>();
            for (WorkerInfo w : ws) {
                cpus = Math.max(cpus, w.cpus());
                if ("cpu".equals(w.backend())) threads.add(Math.max(1, w.threads()));
                else gpu = true;
            }
            threads.sort(null);
            int used = 0, running = 0;
            for (int t : threads) {
                if (running > 0 && used + t > cpus) break;
                used += t;
                running++;
            }
            n += running + (gpu ? 1 : 0);
        }
        return Math.max(1, n);
    }

    /** The host part of {@code host:port} ({@code [v6]:port} too). */
    static String host(String address) {
        if (address.startsWith("[")) {
            int end = address.indexOf(']');
            return end < 0 ? address : address.substring(0, end + 1);
        }
        int colon = address.lastIndexOf(':');
        return colon < 0 ? address : address.substring(0, colon);
    }

    public String describe() {
        StringBuilder sb = new StringBuilder("plan " + version + ":");
        for (Stage s : stages) sb.append(' ').append(s.workerId()).append(s.range());
        return sb.toString();
    }
}
