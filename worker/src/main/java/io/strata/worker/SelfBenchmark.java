package io.strata.worker;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.Buf;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.ModelShards;
import io.strata.engine.gguf.TensorInfo;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The short measurement a worker makes at start and publishes in ZooKeeper, so placement can weigh workers by what
 * they do rather than by what they claim:
 * <ul>
 *   <li>memory bandwidth: best of three sums over 256 MiB (far beyond the last-level cache);</li>
 *   <li>matmul throughput per weight type: bytes of weights per second in a one-row (decode) matmul on the
 *       worker's own backend over 64 MiB of weights, for each type the models in its models directory use, after
 *       products over a small slice of the same weights have run until their time stops falling (a JIT-compiled
 *       backend's kernels start interpreted, 10-100 times slower than they serve);</li>
 *   <li>time per layer of each model in the models directory, derived from those throughputs and the model's
 *       tensor bytes per type (decode is dominated by streaming the weights once per token).</li>
 * </ul>
 * It takes one to four seconds per type on this project's 2-vCPU machines.
 */
public final class SelfBenchmark {
    private static final Logger log = LoggerFactory.getLogger(SelfBenchmark.class);
    private static final VectorSpecies<Long> L = LongVector.SPECIES_PREFERRED;

    /** Seconds per layer and for the head of one model. */
    public record ModelTiming(String fileName, String fingerprint, double secondsPerLayer, double secondsHead) {
    }

    public record Result(double bandwidthBytesPerSecond, Map<GgmlType, Double> matmulBytesPerSecond,
                         List<ModelTiming> models) {
    }

    private SelfBenchmark() {
    }

    public static Result run(Backend backend, Path modelsDir, long bandwidthBytes, long matmulBytes) {
        double bw = bandwidth(bandwidthBytes);
        List<Path> models = models(modelsDir);
        Set<GgmlType> types = EnumSet.noneOf(GgmlType.class);
        for (Path p : models) {
            try (GgufFile f = GgufFile.open(p)) {
                for (TensorInfo t : f.tensorInfos().values()) if (t.shape().length > 1) types.add(t.type());
            } catch (RuntimeException e) {
                log.warn("skipping {} in the models directory: {}", p, e.getMessage());
            }
        }
        if (types.isEmpty()) types = EnumSet.of(GgmlType.Q4_0, GgmlType.Q8_0);
        Map<GgmlType, Double> tput = new LinkedHashMap<>();
        for (GgmlType t : types) {
            try {
                tput.put(t, matmul(backend, t, matmulBytes, bw));
            } catch (RuntimeException e) {
                log.warn("backend {} cannot run a {} matmul: {}", backend.name(), t, e.getMessage());
            }
        }
        List<ModelTiming> timings = new ArrayList<>();
        for (Path p : models) {
            try (GgufFile f = GgufFile.open(p)) {
                ModelConfig cfg = ModelConfig.from(f);
                double layer = 0;
                for (int l = 0; l < cfg.layers(); l++) layer += seconds(ModelShards.layer(f, l), tput, bw);
                timings.add(new ModelTiming(modelsDir.relativize(p).toString(), f.fingerprint(), layer / cfg.layers(),
                        seconds(ModelShards.head(f), tput, bw)));
            } catch (RuntimeException e) {
                log.warn("no timing for {}: {}", p, e.getMessage());
            }
        }
        return new Result(bw, tput, timings);
    }

    /** Decode seconds of a group of tensors: bytes of each over its type's throughput (half the bandwidth if unmeasured). */
    public static double seconds(List<TensorInfo> tensors, Map<GgmlType, Double> tput, double bandwidth) {
        double s = 0;
        for (TensorInfo t : tensors) {
            Double v = tput.get(t.type());
            s += t.bytes() / (v != null ? v : bandwidth / 2);
        }
        return s;
    }

    /** GGUF files directly in {@code dir} (first parts of split models only). */
    static List<Path> models(Path dir) {
        if (dir == null || !Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".gguf"))
                    .filter(p -> !p.getFileName().toString().matches(".*-\\d{5}-of-\\d{5}\\.gguf") || p.getFileName().toString().matches(".*-00001-of-\\d{5}\\.gguf"))
                    .filter(GgufFile::looksLikeGguf)
                    .sorted().toList();
        } catch (IOException e) {
            log.warn("cannot list the models directory {}: {}", dir, e.getMessage());
            return List.of();
        }
    }

    /** Best of three read passes over {@code bytes} of native memory, in bytes per second. */
    static double bandwidth(long bytes) {
        bytes = bytes / 64 * 64;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(bytes, 64);
            m.fill((byte) 1);
            sum(m.asSlice(0, Math.min(bytes, 16L << 20)));
            double best = 0;
            for (int rep = 0; rep < 3; rep++) {
                long t0 = System.nanoTime();
                long s = sum(m);
                long dt = System.nanoTime() - t0;
                if (s == 42) log.trace("unlikely");
                best = Math.max(best, bytes / (dt / 1e9));
            }
            return best;
        }
    }

    private static long sum(MemorySegment m) {
        LongVector acc = LongVector.zero(L);
        long step = L.vectorByteSize();
        long end = m.byteSize() - m.byteSize() % step;
        for (long off = 0; off < end; off += step) {
            acc = acc.add(LongVector.fromMemorySegment(L, m, off, ByteOrder.nativeOrder()));
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** One-row matmul over about {@code bytes} of weights of type {@code type}: weight bytes per second (best of 5). */
    static double matmul(Backend backend, GgmlType type, long bytes, double bandwidth) {
        int cols = 4096;
        long rowBytes = type.byteSize(cols);
        int rows = (int) Math.max(64, bytes / rowBytes);
        // Shared: a backend may rewrite the weights on threads of its own (the CPU backend interleaves them on its
        // preparer threads) before the first product, and the kernels timed must be the ones that serve.
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = arena.allocate(rowBytes * rows, 64);
            // 0x11 everywhere: small finite fp16 scales and mid-range quants, valid for every block layout.
            w.fill((byte) 0x11);
            Tensor t = new Tensor("bench." + type, type, new long[]{cols, rows}, w);
            Tensor slice = new Tensor("bench." + type + ".warm-up", type, new long[]{cols, 64}, w.asSlice(0, rowBytes * 64));
            Buf x = backend.allocate(cols);
            backend.upload(ones(cols), 0, cols, x);
            try {
                warmUp(backend, slice, x, bandwidth);
                return time(backend, t, x, rows, rowBytes);
            } finally {
                backend.releaseWeight(slice); // what the backend made of the weights (the interleaved copies)
                backend.releaseWeight(t);
            }
        }
    }

    /**
     * Products of {@code slice} until the kernels run compiled: until the slice (which stays in cache) goes through at
     * least a tenth of the memory {@code bandwidth} and no product has been 5% faster than the best so far for 0.3 s;
     * at most 4 s. A cold JIT-compiled kernel runs 10-100 times slower than that floor, so a worker whose compiler is
     * still busy (as when several workers start at once) keeps going instead of timing a cold kernel.
     */
    static void warmUp(Backend backend, Tensor slice, Buf x, double bandwidth) {
        Buf out = backend.allocate(slice.rows());
        long bytes = slice.rowBytes() * slice.rows();
        long start = System.nanoTime(), lastGain = start, best = Long.MAX_VALUE;
        while (true) {
            long t0 = System.nanoTime();
            backend.matmul(slice, x, 1, out);
            backend.sync();
            long now = System.nanoTime();
            if (now - t0 < best * 0.95) {
                best = now - t0;
                lastGain = now;
            }
            boolean fast = bytes / (best / 1e9) >= bandwidth / 10;
            if (fast && now - lastGain > 300_000_000L || now - start > 4_000_000_000L) return;
        }
    }

    /** The best of up to five products with {@code t} within about 0.3 s, in weight bytes per second. */
    private static double time(Backend backend, Tensor t, Buf x, int rows, long rowBytes) {
        Buf out = backend.allocate(rows);
        // A few products first: the first waits for the backend's copy of the weights and pages them in.
        long start = System.nanoTime();
        for (int i = 0; i < 3 && System.nanoTime() - start < 300_000_000L; i++) {
            backend.matmul(t, x, 1, out);
            backend.sync();
        }
        long best = Long.MAX_VALUE;
        long measured = System.nanoTime();
        for (int i = 0; i < 5 && (i == 0 || System.nanoTime() - measured < 300_000_000L); i++) {
            long t0 = System.nanoTime();
            backend.matmul(t, x, 1, out);
            backend.sync();
            best = Math.min(best, System.nanoTime() - t0);
        }
        return rowBytes * rows / (best / 1e9);
    }

    private static float[] ones(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, 0.5f);
        return a;
    }

}
