package io.strata.coordinator;

import io.strata.engine.tensor.GgmlType;

import java.util.Map;

/**
 * A registered worker as its ZooKeeper record describes it.
 *
 * @param matmulBytesPerSecond measured decode matmul throughput per weight type
 */
public record WorkerInfo(String id, String address, String backend, long usableMemoryBytes, long totalMemoryBytes,
                         double bandwidthBytesPerSecond, Map<GgmlType, Double> matmulBytesPerSecond) {
}
