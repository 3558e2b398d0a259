package io.strata.coordinator;

import io.strata.engine.tensor.GgmlType;

import java.util.Map;

/**
 * A registered worker as its ZooKeeper record describes it.
 *
 * @param matmulBytesPerSecond measured decode matmul throughput per weight type
 * @param threads              compute threads of its backend (0 when the record does not say)
 * @param cpus                 processors its process may use (0 when the record does not say)
 * @param secondsPerLayer      its self-benchmark's decode time of one layer, per model fingerprint (the models in its
 *                             models directory)
 */
public record WorkerInfo(String id, String address, String backend, long usableMemoryBytes, long totalMemoryBytes,
                         double bandwidthBytesPerSecond, Map<GgmlType, Double> matmulBytesPerSecond, int threads,
                         int cpus, Map<String, Double> secondsPerLayer) {

    /** Without thread and processor counts and model timings (placement needs none of them). */
    public WorkerInfo(String id, String address, String backend, long usableMemoryBytes, long totalMemoryBytes,
                      double bandwidthBytesPerSecond, Map<GgmlType, Double> matmulBytesPerSecond) {
        this(id, address, backend, usableMemoryBytes, totalMemoryBytes, bandwidthBytesPerSecond, matmulBytesPerSecond, 0, 0, Map.of());
    }
}
