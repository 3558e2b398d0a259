package io.strata.worker;

import io.strata.engine.backend.Backend;

import java.nio.file.Path;

/**
 * How to run a worker.
 *
 * @param zk               ZooKeeper connect string {@code host:port[,host:port...]}
 * @param root             root of Strata's nodes in ZooKeeper (default {@code /strata})
 * @param bindHost         address to listen on ({@code 0.0.0.0} for all)
 * @param advertiseHost    host name other processes reach this worker by
 * @param port             gRPC port (0 = any free port)
 * @param id               worker id (null = {@code <advertiseHost>-<port>})
 * @param memoryBytes      budget for weights and KV caches (0 = 80% of physical memory)
 * @param modelsDir        where model files are found (assignments name a file in it)
 * @param backend          the compute backend (owned by the worker from now on)
 * @param benchmarkBytes   bytes the start-up self-benchmark streams (bandwidth pass; matmuls use a quarter)
 * @param sessionTimeoutMs ZooKeeper session timeout
 */
public record WorkerConfig(String zk, String root, String bindHost, String advertiseHost, int port, String id,
                           long memoryBytes, Path modelsDir, Backend backend, long benchmarkBytes, int sessionTimeoutMs) {
    public static final String DEFAULT_ROOT = "/strata";
    public static final long DEFAULT_BENCHMARK_BYTES = 256L << 20;
}
