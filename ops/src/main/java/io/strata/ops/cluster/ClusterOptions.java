package io.strata.ops.cluster;

import io.strata.coordinator.Coordinator;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** What the coordinator serves and under which limits (shared by {@code coordinator} and {@code local}). */
public final class ClusterOptions {
    @Option(names = "--context", defaultValue = "4096", description = "positions per sequence (default: ${DEFAULT-VALUE})")
    public int context;

    @Option(names = {"--sequences", "--concurrency"}, defaultValue = "4",
            description = "sequences served at once: KV caches per stage; more requests wait in the queue (default: ${DEFAULT-VALUE})")
    public int sequences;

    @Option(names = "--kv", defaultValue = "f16", description = "KV cache type f16 or f32 (default: ${DEFAULT-VALUE})")
    public String kv;

    @Option(names = "--activations", defaultValue = "f32", description = "hidden states between stages: f32 (exact), f16 or bf16 (default: ${DEFAULT-VALUE})")
    public String activations;

    @Option(names = "--batch", defaultValue = "64", description = "rows per forward chunk (prefill chunk size) (default: ${DEFAULT-VALUE})")
    public int batch;

    @Option(names = "--no-verify", description = "skip the per-layer checksums (the coordinator reads the whole model once to make them)")
    public boolean noVerify;

    public Coordinator.Config config(String zk, String root, String id, Path model, int minWorkers, long settleMillis) {
        return new Coordinator.Config(zk, root, id, model.toAbsolutePath(), context, sequences, kv, activations, batch, minWorkers,
                settleMillis, !noVerify, 15_000);
    }
}
