package io.strata.coordinator;

import java.util.List;

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

    public String describe() {
        StringBuilder sb = new StringBuilder("plan " + version + ":");
        for (Stage s : stages) sb.append(' ').append(s.workerId()).append(s.range());
        return sb.toString();
    }
}
