package io.strata.engine.gguf;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;
import java.util.zip.CRC32C;

/**
 * Which tensors a pipeline stage reads, how many bytes they take and their checksums: one definition shared by the
 * coordinator's placement (bytes per layer, expected checksums) and the worker's loader (what to page in and
 * verify), so the two can never disagree.
 *
 * <p>Groups: layer {@code l} is every tensor named {@code blk.l.*}; the embedding is {@code token_embd.weight};
 * the head is {@code output_norm.weight} and {@code output.weight} (or {@code token_embd.weight} when the model ties
 * them). A stage of layers {@code [first, end)} reads its layers, the embedding when {@code first == 0}, and the
 * head when {@code end} is the model's last layer. Tensors are taken in file order.
 */
public final class ModelShards {
    private ModelShards() {
    }

    public static List<TensorInfo> layer(GgufFile file, int layer) {
        String prefix = "blk." + layer + ".";
        List<TensorInfo> out = new ArrayList<>();
        for (TensorInfo t : file.tensorInfos().values()) {
            if (t.name().startsWith(prefix)) out.add(t);
        }
        return out;
    }

    public static List<TensorInfo> embedding(GgufFile file) {
        return named(file, "token_embd.weight");
    }

    public static List<TensorInfo> head(GgufFile file) {
        return file.hasTensor("output.weight")
                ? named(file, "output_norm.weight", "output.weight")
                : named(file, "output_norm.weight", "token_embd.weight");
    }

    /** Every tensor a stage of layers {@code [first, end)} of a {@code layers}-layer model reads. */
    public static List<TensorInfo> stage(GgufFile file, int layers, int first, int end) {
        List<TensorInfo> out = new ArrayList<>();
        if (first == 0) out.addAll(embedding(file));
        for (int l = first; l < end; l++) out.addAll(layer(file, l));
        if (end == layers) {
            for (TensorInfo t : head(file)) if (!out.contains(t)) out.add(t);
        }
        return out;
    }

    public static long bytes(List<TensorInfo> tensors) {
        long n = 0;
        for (TensorInfo t : tensors) n += t.bytes();
        return n;
    }

    /**
     * CRC32C over the data of the tensors, in order. Reading the data pages it in: a worker calls this once on its
     * own tensors to load and verify them in one pass. {@code progress} receives the bytes read so far (may be null).
     */
    public static int crc32c(GgufFile file, List<TensorInfo> tensors, LongConsumer progress) {
        CRC32C crc = new CRC32C();
        long done = 0;
        final long chunk = 8L << 20;
        for (TensorInfo t : tensors) {
            MemorySegment data = file.tensor(t.name()).data();
            for (long off = 0; off < data.byteSize(); off += chunk) {
                long len = Math.min(chunk, data.byteSize() - off);
                crc.update(data.asSlice(off, len).asByteBuffer());
                done += len;
                if (Thread.currentThread().isInterrupted()) {
                    throw new IllegalStateException("interrupted while reading " + t.name() + " of " + file.path());
                }
                if (progress != null) progress.accept(done);
            }
        }
        return (int) crc.getValue();
    }

    private static List<TensorInfo> named(GgufFile file, String... names) {
        List<TensorInfo> out = new ArrayList<>();
        for (String n : names) {
            TensorInfo t = file.tensorInfos().get(n);
            if (t == null) throw new GgufException(file.path(), n, -1, "required tensor is missing");
            out.add(t);
        }
        return out;
    }
}
