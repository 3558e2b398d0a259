package io.strata.worker;

import io.strata.engine.backend.KvType;

/**
 * What the coordinator asks a worker to hold: layers {@code [first, end)} of a model, stage {@code stage} of
 * {@code stages}, sending to {@code next} (null on the last stage).
 *
 * @param checksums expected CRC32C of each layer's tensors, of the embedding and of the head; null = not checked
 */
public record Assignment(long planVersion, int stage, int stages, String fileName, String fingerprint,
                         Checksums checksums, int first, int end, Next next, int contextLength, int maxSequences,
                         KvType kvType, ActivationType activations, int maxBatch) {

    public record Checksums(int[] layers, int embedding, int head) {
    }

    /** The next stage: its worker, address and layer range. */
    public record Next(String address, String workerId, int first, int end) {
    }

    public boolean last() {
        return next == null;
    }

    /** Whether {@code other} asks for the same weights and caches (only the links or the plan version may differ). */
    public boolean sameShard(Assignment other) {
        return other != null && fileName.equals(other.fileName) && fingerprint.equals(other.fingerprint)
                && first == other.first && end == other.end && contextLength == other.contextLength
                && maxSequences == other.maxSequences && kvType == other.kvType && maxBatch == other.maxBatch
                && last() == other.last();
    }

    public String range() {
        return "[" + first + ", " + end + ")";
    }
}
