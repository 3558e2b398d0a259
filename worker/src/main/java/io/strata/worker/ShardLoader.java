package io.strata.worker;

import io.strata.engine.util.Bytes;
import io.strata.engine.backend.Backend;
import io.strata.engine.backend.KvCache;
import io.strata.engine.gguf.GgufException;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.ModelShards;
import io.strata.engine.gguf.TensorInfo;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * Loads one assignment: finds the model file in the worker's models directory, checks its fingerprint, checks the
 * memory budget, maps the file and pages in only the assigned tensors (verifying their checksums in the same pass),
 * then allocates the KV caches. Every refusal is a {@link LoadException} whose message names the worker, the file,
 * the layer range and the reason; the worker reports it to the coordinator.
 */
final class ShardLoader {

    /** A loaded shard. Closing it frees the caches and unmaps the file. */
    record Shard(GgufFile file, ModelConfig config, Stage stage, KvCache[] caches, long weightBytes, long kvBytes)
            implements AutoCloseable {
        @Override
        public void close() {
            for (KvCache c : caches) if (c != null) c.close();
            stage.close();
            file.close();
        }
    }

    /** The result of the quick checks: the open file and what the shard will need. */
    record Plan(GgufFile file, ModelConfig config, List<TensorInfo> tensors, long weightBytes, long kvBytes,
                long activationBytes) {
        long totalBytes() {
            return weightBytes + kvBytes + activationBytes;
        }
    }

    private final String workerId;
    private final Path modelsDir;
    private final long budgetBytes;

    ShardLoader(String workerId, Path modelsDir, long budgetBytes) {
        this.workerId = workerId;
        this.modelsDir = modelsDir;
        this.budgetBytes = budgetBytes;
    }

    /** Fast checks (header only): file present, fingerprint, range, memory. Throws {@link LoadException}. */
    Plan check(Assignment a) {
        String what = "worker " + workerId + ", layers " + a.range() + " of " + a.fileName();
        if (modelsDir == null) throw new LoadException(LoadException.Reason.NOT_FOUND, what + ": this worker has no models directory (start it with --models DIR)");
        Path path = modelsDir.resolve(a.fileName()).normalize();
        if (!path.startsWith(modelsDir.normalize())) {
            throw new LoadException(LoadException.Reason.INVALID, what + ": the file name leaves the models directory " + modelsDir);
        }
        if (!Files.isRegularFile(path)) {
            throw new LoadException(LoadException.Reason.NOT_FOUND, what + ": model file " + path + " not found (models directory " + modelsDir + ")");
        }
        GgufFile file;
        try {
            file = GgufFile.open(path);
        } catch (GgufException e) {
            throw new LoadException(LoadException.Reason.INVALID, what + ": " + e.getMessage(), e);
        }
        try {
            String fp = file.fingerprint();
            if (!fp.equals(a.fingerprint())) {
                throw new LoadException(LoadException.Reason.CHECKSUM, what + ": checksum mismatch: " + path + " has header fingerprint " + abbrev(fp)
                        + " but the plan expects " + abbrev(a.fingerprint()) + " (a different or changed file)");
            }
            ModelConfig cfg = ModelConfig.from(file);
            if (a.first() < 0 || a.end() > cfg.layers() || a.first() >= a.end()) {
                throw new LoadException(LoadException.Reason.INVALID, what + ": the model has " + cfg.layers() + " layers");
            }
            if ((a.end() == cfg.layers()) != a.last()) {
                throw new LoadException(LoadException.Reason.INVALID, what + ": the range " + (a.last() ? "must end at the model's last layer " + cfg.layers()
                        + " on the last stage" : "ends at the last layer but a next stage is given"));
            }
            List<TensorInfo> tensors = ModelShards.stage(file, cfg.layers(), a.first(), a.end());
            long weights = ModelShards.bytes(tensors);
            long kv = (long) a.maxSequences() * 2L * (a.end() - a.first()) * a.contextLength() * cfg.kvDim() * a.kvType().bytes;
            long act = activationBytes(cfg, a.maxBatch(), a.last());
            Plan plan = new Plan(file, cfg, tensors, weights, kv, act);
            if (plan.totalBytes() > budgetBytes) {
                throw new LoadException(LoadException.Reason.MEMORY, what + ": not enough memory: needs " + Bytes.format(weights) + " of weights + "
                        + Bytes.format(kv) + " of KV cache (" + a.maxSequences() + " sequences x " + a.contextLength()
                        + " positions, " + a.kvType().name().toLowerCase() + ") + " + Bytes.format(act) + " of activations = "
                        + Bytes.format(plan.totalBytes()) + ", but its memory budget is " + Bytes.format(budgetBytes) + " (--memory)");
            }
            return plan;
        } catch (RuntimeException e) {
            file.close();
            if (e instanceof LoadException) throw e;
            throw new LoadException(LoadException.Reason.INVALID, what + ": " + e.getMessage(), e);
        }
    }

    /** Activation buffers a {@link Stage} allocates (see its fields). */
    static long activationBytes(ModelConfig c, int maxBatch, boolean last) {
        long perRow = 3L * c.dim() + 2L * c.qDim() + 2L * c.kvDim() + 2L * c.ffn();
        long head = last ? 16L * (c.dim() + c.vocab()) : 0;
        return 4L * (maxBatch * perRow + head);
    }

    /**
     * Pages in and verifies the planned tensors, builds the stage and allocates the caches. The file is owned by the
     * returned shard (or closed on failure). {@code progress} receives bytes paged in so far.
     */
    Shard load(Assignment a, Plan plan, Backend backend, LongConsumer progress) {
        String what = "worker " + workerId + ", layers " + a.range() + " of " + a.fileName();
        GgufFile file = plan.file();
        KvCache[] caches = new KvCache[a.maxSequences()];
        Stage stage = null;
        try {
            ModelConfig cfg = plan.config();
            long[] done = {0};
            LongConsumer p = n -> progress.accept(done[0] + n);
            if (a.first() == 0) {
                verify(what, "the embedding", file, ModelShards.embedding(file), a.checksums() == null ? null : a.checksums().embedding(), p, done);
            }
            for (int l = a.first(); l < a.end(); l++) {
                Integer want = a.checksums() == null ? null : a.checksums().layers()[l];
                verify(what, "layer " + l, file, ModelShards.layer(file, l), want, p, done);
            }
            if (a.last()) {
                List<TensorInfo> head = ModelShards.head(file);
                verify(what, "the output head", file, head, a.checksums() == null ? null : a.checksums().head(), p, done);
            }
            stage = Stage.load(file, cfg, a.first(), a.end(), backend, a.maxBatch());
            // Ready means ready: the backend's copies of the weights (the CPU backend's interleaved layout, read from
            // its repack cache or written now) are in place before the stage is announced, and the first request
            // does not wait for them.
            backend.awaitPrepared();
            for (int i = 0; i < caches.length; i++) caches[i] = stage.newCache(a.contextLength(), a.kvType());
            return new Shard(file, cfg, stage, caches, plan.weightBytes(), plan.kvBytes());
        } catch (RuntimeException | OutOfMemoryError e) {
            for (KvCache c : caches) if (c != null) c.close();
            if (stage != null) stage.close();  // frees the backend's copies of its weights
            file.close();
            if (e instanceof LoadException le) throw le;
            throw new LoadException(LoadException.Reason.INVALID, what + ": " + e.getMessage(), e);
        }
    }

    private static void verify(String what, String part, GgufFile file, List<TensorInfo> tensors, Integer want,
                               LongConsumer progress, long[] done) {
        int crc = ModelShards.crc32c(file, tensors, progress);
        done[0] += ModelShards.bytes(tensors);
        if (want != null && crc != want) {
            throw new LoadException(LoadException.Reason.CHECKSUM, what + ": checksum mismatch in " + part + " of " + file.path() + ": CRC32C "
                    + Integer.toHexString(crc) + ", the plan expects " + Integer.toHexString(want) + " (the file's data differs from the coordinator's copy)");
        }
    }

    private static String abbrev(String fingerprint) {
        return fingerprint.length() > 12 ? fingerprint.substring(0, 12) + "…" : fingerprint;
    }
}
