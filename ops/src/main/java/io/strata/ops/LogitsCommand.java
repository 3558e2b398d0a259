package io.strata.ops;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code strata logits}: all positions of a prompt computed as one batch, written as f32 {@code [n_tokens][n_vocab]}. */
@Command(name = "logits", description = "Compute the logits of every position of a prompt (one batch) into a float32 file.")
public final class LogitsCommand implements Callable<Integer> {
    @Mixin
    ModelOptions opts;

    @Option(names = "--ids", required = true, split = ",", description = "token ids, comma-separated")
    int[] ids;

    @Option(names = "--out", required = true, description = "output file: float32 little-endian [n_tokens][n_vocab]")
    Path out;

    @Option(names = "--kv", defaultValue = "f32", description = "KV cache type f32|f16 (default: ${DEFAULT-VALUE})")
    String kv;

    @Override
    public Integer call() throws IOException {
        long t0 = System.nanoTime();
        try (GgufFile file = GgufFile.open(opts.model); Backend backend = opts.backend()) {
            ModelConfig cfg = ModelConfig.from(file);
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] < 0 || ids[i] >= cfg.vocab()) {
                    throw new IllegalArgumentException("--ids: id " + ids[i] + " at index " + i + " is outside the vocabulary of " + cfg.vocab());
                }
            }
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, Math.max(1, Math.min(ids.length, 512)));
            float[] logits = new float[ids.length * cfg.vocab()];
            long t1 = System.nanoTime();
            try (KvCache cache = stage.newCache(ids.length, KvType.parse(kv))) {
                stage.forward(Step.ofSequence(ids, 0, cache, true), logits);
            }
            long t2 = System.nanoTime();
            ByteBuffer buf = ByteBuffer.allocate(logits.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            buf.asFloatBuffer().put(logits);
            try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                while (buf.hasRemaining()) ch.write(buf);
            }
            int[] argmax = new int[ids.length];
            for (int i = 0; i < ids.length; i++) {
                int best = 0;
                int base = i * cfg.vocab();
                for (int j = 1; j < cfg.vocab(); j++) if (logits[base + j] > logits[base + best]) best = j;
                argmax[i] = best;
            }
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("model", opts.model.toString());
            summary.put("n_tokens", ids.length);
            summary.put("n_vocab", cfg.vocab());
            summary.put("out", out.toString());
            summary.put("argmax", argmax);
            summary.put("load_ms", (t1 - t0) / 1e6);
            summary.put("compute_ms", (t2 - t1) / 1e6);
            System.out.println(Json.write(summary));
        }
        return 0;
    }
}
