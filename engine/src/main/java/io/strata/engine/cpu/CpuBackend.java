package io.strata.engine.cpu;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.Buf;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.backend.Rope;
import io.strata.engine.backend.WeightOrigin;
import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The reference backend: every operation runs on the calling thread at once (matrix products fan out over the
 * {@link MatMul} pool), so {@link #sync()} has nothing to wait for. Activations are heap {@code float[]}s, KV caches
 * native memory, weights stay in the file map.
 */
public final class CpuBackend implements Backend {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat F32LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MatMul matmul;
    private final int threads;
    private final Map<Rope, double[]> invFreqs = new IdentityHashMap<>();
    private float[] scores = new float[0];   // attention scratch: one score per cached position
    private float[] rowK = new float[0];     // f16 cache row converted to f32
    private float[] cos = new float[0];
    private float[] sin = new float[0];

    /**
     * Whether quantized weights of the types {@link Repacked} supports (every quantized type) are rewritten at load
     * into the row-interleaved layout, which decodes about twice as fast (BENCHMARKS.md). The rewritten copies are
     * file-backed either way, so weights stay mapped from files: stored in the {@link RepackCache} when the stage
     * names the weight's origin (reused by the next start), else in unlinked temporary files ({@link MappedScratch}, in
     * {@code -Dstrata.cpu.repackDir}, default the temp directory). {@code -Dstrata.cpu.interleave=false} reads every
     * weight in place.
     */
    static final boolean INTERLEAVE = !"false".equals(System.getProperty("strata.cpu.interleave"));

    private static final System.Logger LOG = System.getLogger(CpuBackend.class.getName());

    private final MappedScratch repacked;
    private final RepackCache cache;
    private final java.util.Set<Tensor> tried = java.util.Collections.synchronizedSet(java.util.Collections.newSetFromMap(new IdentityHashMap<>()));
    /** Weights being interleaved on the {@link #preparer} threads, adopted by the first matmul that needs them. */
    private final Map<Tensor, Future<Repacked>> pending = java.util.Collections.synchronizedMap(new IdentityHashMap<>());
    private ExecutorService preparer;
    private volatile boolean cacheWritable = true;
    private final AtomicInteger fromCache = new AtomicInteger();
    private final AtomicInteger stored = new AtomicInteger();
    private final AtomicInteger temporary = new AtomicInteger();
    private final AtomicInteger declined = new AtomicInteger();
    private final AtomicLong prepareNanos = new AtomicLong();

    /** A backend with the repack cache of {@link RepackCache#fromProperties()} (none when interleaving is off). */
    public CpuBackend(int threads) {
        this(threads, INTERLEAVE ? RepackCache.fromProperties() : null);
    }

    /**
     * A backend that stores and reuses interleaved weights in {@code cache} (null: none; closed with this backend).
     * With {@code -Dstrata.cpu.interleave=false} nothing is interleaved and the cache is not used.
     */
    public CpuBackend(int threads, RepackCache cache) {
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1: " + threads);
        this.threads = threads;
        this.matmul = new MatMul(threads);
        this.repacked = INTERLEAVE ? new MappedScratch(Path.of(System.getProperty("strata.cpu.repackDir",
                System.getProperty("java.io.tmpdir")))) : null;
        this.cache = INTERLEAVE ? cache : null;
    }

    @Override
    public String name() {
        return "cpu";
    }

    public int threads() {
        return threads;
    }

    private static CpuBuf buf(Buf b) {
        return (CpuBuf) b;
    }

    @Override
    public Buf allocate(long floats) {
        return new CpuBuf(Math.toIntExact(floats));
    }

    @Override
    public KvCache newKvCache(int firstLayer, int endLayer, int contextLength, int kvDim, KvType type) {
        return new CpuKvCache(firstLayer, endLayer, contextLength, kvDim, type);
    }

    @Override
    public void upload(float[] src, int srcOff, int len, Buf dst) {
        CpuBuf d = buf(dst);
        System.arraycopy(src, srcOff, d.a, 0, len);
        d.written();
    }

    @Override
    public void download(Buf src, long srcOff, float[] dst, int dstOff, int len) {
        System.arraycopy(buf(src).a, Math.toIntExact(srcOff), dst, dstOff, len);
    }

    @Override
    public void embed(Tensor table, int[] tokens, int n, Buf out) {
        CpuBuf o = buf(out);
        int dim = table.cols();
        int vocab = table.rows();
        for (int i = 0; i < n; i++) {
            int t = tokens[i];
            if (t < 0 || t >= vocab) throw new IllegalArgumentException("token id " + t + " at row " + i + " is outside the vocabulary of " + vocab);
            Dequant.dequantizeRow(table.type(), table.data(), t * table.rowBytes(), o.a, i * dim, dim);
        }
        o.written();
    }

    @Override
    public void rmsNorm(Buf xb, Tensor weight, int n, int dim, float eps, Buf outb) {
        float[] x = buf(xb).a;
        float[] out = buf(outb).a;
        MemorySegment w = weight.data();
        for (int i = 0; i < n; i++) {
            int base = i * dim;
            double ss = 0;
            for (int j = 0; j < dim; j++) ss += (double) x[base + j] * x[base + j];
            float scale = (float) (1.0 / Math.sqrt((float) (ss / dim) + eps));
            for (int j = 0; j < dim; j++) out[base + j] = x[base + j] * scale * w.get(F32LE, 4L * j);
        }
        buf(outb).written();
    }

    @Override
    public void matmul(Tensor w, Buf x, int n, Buf out) {
        CpuBuf in = buf(x);
        CpuBuf o = buf(out);
        prepareWeight(w);
        Future<Repacked> f = pending.remove(w);
        if (f != null) adopt(w, f);
        matmul.matmul(w, in.a, n, o.a, in.cache);
        o.written();
    }

    @Override
    public void prepareWeight(Tensor w) {
        prepareWeight(w, (WeightOrigin) null);
    }

    /**
     * Starts interleaving {@code w} on the preparer threads (one per available processor) and returns: the copy is
     * read from the {@link RepackCache} when {@code origin} is given and a valid copy is stored, else written there
     * (or to temporary files when the cache is off or cannot be written). The first {@link #matmul} with {@code w}
     * waits for its copy, so a stage's first step overlaps the preparation of its later layers.
     */
    @Override
    public void prepareWeight(Tensor w, WeightOrigin origin) {
        if (repacked == null || MatMul.SCALAR || !Repacked.supports(w.type()) || !tried.add(w)) return;
        pending.put(w, preparer().submit(() -> prepareNow(w, origin)));
    }

    private synchronized ExecutorService preparer() {
        if (preparer == null) {
            int n = Math.max(1, Runtime.getRuntime().availableProcessors());
            AtomicInteger id = new AtomicInteger();
            preparer = Executors.newFixedThreadPool(n, r -> {
                Thread t = new Thread(r, "strata-prepare-" + id.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
        return preparer;
    }

    /**
     * The copy of {@code w} from {@link #prepareCopy}; once there is one, the kernels never read {@code w}'s own bytes
     * again, so its pages are dropped from this process ({@link HugePages#dropFilePages}): the stage then holds one
     * copy of each weight, not the model file's pages (read at load to verify them) beside the interleaved ones.
     */
    private Repacked prepareNow(Tensor w, WeightOrigin origin) {
        Repacked p = prepareCopy(w, origin);
        if (p != null) HugePages.dropFilePages(w.data());
        return p;
    }

    private Repacked prepareCopy(Tensor w, WeightOrigin origin) {
        long t0 = System.nanoTime();
        try {
            if (cache != null && origin != null) {
                Repacked p = cache.open(w, origin);
                if (p != null) {
                    fromCache.incrementAndGet();
                    return p;
                }
                if (cacheWritable) {
                    try {
                        p = cache.create(w, origin);
                        (p != null ? stored : declined).incrementAndGet();
                        return p;
                    } catch (IOException | UncheckedIOException e) {
                        cacheWritable = false;
                        LOG.log(System.Logger.Level.WARNING, "repack cache " + cache.dir() + ": cannot store interleaved weights ("
                                + e.getMessage() + "); interleaving into temporary files for the rest of this process");
                    }
                }
            }
            Repacked p = Repacked.of(w, repacked);
            (p != null ? temporary : declined).incrementAndGet();
            return p;
        } finally {
            prepareNanos.addAndGet(System.nanoTime() - t0);
        }
    }

    /** Waits for {@code w}'s interleaved copy and uses it; a failure leaves {@code w} on the row-major kernels. */
    private void adopt(Tensor w, Future<Repacked> f) {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    Repacked p = f.get();
                    if (p != null) matmul.adopt(p);
                    return;
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException | CancellationException e) {
                    Throwable c = e.getCause() != null ? e.getCause() : e;
                    LOG.log(System.Logger.Level.WARNING, "interleaving " + w + " failed; it is read in place (slower): " + c, c);
                    return;
                }
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** Waits until every weight announced so far is prepared (and adopts it). */
    @Override
    public void awaitPrepared() {
        List<Tensor> ws;
        synchronized (pending) {
            ws = new ArrayList<>(pending.keySet());
        }
        for (Tensor w : ws) {
            Future<Repacked> f = pending.remove(w);
            if (f != null) adopt(w, f);
        }
    }

    /**
     * How the weights were prepared so far: copies read from the cache, written to it, written to temporary files,
     * declined (left in place), and the preparer threads' total time in milliseconds.
     */
    public record PrepareStats(int fromCache, int stored, int temporary, int declined, double millis) {
    }

    /**
     * Unmaps {@code w}'s interleaved copy (waiting for it if it is still being made), so that a worker that loads
     * another range does not keep the copies of the one it held. Copies the auto-interleaving {@link MatMul} made
     * itself ({@code -Dstrata.cpu.interleave} without a backend's preparation) stay until the backend closes.
     */
    @Override
    public void releaseWeight(Tensor w) {
        Repacked p = null;
        Future<Repacked> f = pending.remove(w);
        if (f != null) {
            try {
                p = f.get();
            } catch (ExecutionException | CancellationException e) {
                p = null;  // nothing was made
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                f.cancel(false);
            }
        }
        tried.remove(w);
        Repacked adopted = matmul.forget(w);
        if (p == null) p = adopted;
        if (p == null) return;
        if (cache == null || !cache.release(p)) {
            if (repacked != null) repacked.release(p.data());
        }
    }

    @Override
    public java.util.Set<Path> weightCopyFiles() {
        java.util.Set<Path> files = new java.util.HashSet<>();
        if (cache != null) files.addAll(cache.mappedFiles());
        if (repacked != null) files.addAll(repacked.files());
        return files;
    }

    public PrepareStats prepareStats() {
        return new PrepareStats(fromCache.get(), stored.get(), temporary.get(), declined.get(), prepareNanos.get() / 1e6);
    }

    @Override
    public void addBias(Buf xb, Tensor bias, int n) {
        float[] x = buf(xb).a;
        int d = bias.cols();
        MemorySegment b = bias.data();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++) x[i * d + j] += b.get(F32LE, 4L * j);
        }
        buf(xb).written();
    }

    @Override
    public void rope(Buf xb, int n, int heads, int headDim, int[] positions, Rope rope) {
        float[] x = buf(xb).a;
        double[] inv = invFreqs.computeIfAbsent(rope, r -> {
            double[] f = new double[r.dims() / 2];
            for (int i = 0; i < f.length; i++) f[i] = r.invFreq(i);
            return f;
        });
        int pairs = inv.length;
        if (cos.length < pairs) {
            cos = new float[pairs];
            sin = new float[pairs];
        }
        int half = rope.dims() / 2;
        for (int i = 0; i < n; i++) {
            int p = positions[i];
            for (int j = 0; j < pairs; j++) {
                double theta = p * inv[j];
                cos[j] = (float) Math.cos(theta);
                sin[j] = (float) Math.sin(theta);
            }
            for (int h = 0; h < heads; h++) {
                int base = (i * heads + h) * headDim;
                if (rope.neox()) {
                    for (int j = 0; j < pairs; j++) {
                        float a = x[base + j];
                        float b = x[base + j + half];
                        x[base + j] = a * cos[j] - b * sin[j];
                        x[base + j + half] = a * sin[j] + b * cos[j];
                    }
                } else {
                    for (int j = 0; j < pairs; j++) {
                        float a = x[base + 2 * j];
                        float b = x[base + 2 * j + 1];
                        x[base + 2 * j] = a * cos[j] - b * sin[j];
                        x[base + 2 * j + 1] = a * sin[j] + b * cos[j];
                    }
                }
            }
        }
        buf(xb).written();
    }

    @Override
    public void attention(Buf qb, Buf kb, Buf vb, int n, int layer, KvCache[] caches, int[] positions,
                          int heads, int kvHeads, int headDim, Buf outb) {
        float[] q = buf(qb).a;
        float[] k = buf(kb).a;
        float[] v = buf(vb).a;
        float[] out = buf(outb).a;
        int kvDim = kvHeads * headDim;
        // 1. store the new keys and values
        for (int i = 0; i < n; i++) {
            CpuKvCache c = (CpuKvCache) caches[i];
            int l = layer - c.firstLayer();
            long at = (long) positions[i] * kvDim;
            store(c, c.k[l], at, k, i * kvDim, kvDim);
            store(c, c.v[l], at, v, i * kvDim, kvDim);
        }
        // 2. causal attention of each row over its own sequence, positions 0..pos
        int group = heads / kvHeads;
        float scale = (float) (1.0 / Math.sqrt(headDim));
        int maxLen = 0;
        for (int i = 0; i < n; i++) maxLen = Math.max(maxLen, positions[i] + 1);
        if (scores.length < maxLen) scores = new float[maxLen];
        if (rowK.length < headDim) rowK = new float[headDim];
        for (int i = 0; i < n; i++) {
            CpuKvCache c = (CpuKvCache) caches[i];
            int l = layer - c.firstLayer();
            MemorySegment kc = c.k[l];
            MemorySegment vc = c.v[l];
            boolean f16 = c.type() == KvType.F16;
            int len = positions[i] + 1;
            for (int h = 0; h < heads; h++) {
                int qo = (i * heads + h) * headDim;
                int kvo = (h / group) * headDim;
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t < len; t++) {
                    long off = (long) t * kvDim + kvo;
                    float s = (f16 ? dotF16(q, qo, kc, off, headDim) : dotF32(q, qo, kc, off, headDim)) * scale;
                    scores[t] = s;
                    if (s > max) max = s;
                }
                double sum = 0;
                for (int t = 0; t < len; t++) {
                    float e = (float) Math.exp(scores[t] - max);
                    scores[t] = e;
                    sum += e;
                }
                float norm = (float) (1.0 / sum);
                int oo = qo;
                for (int d = 0; d < headDim; d++) out[oo + d] = 0f;
                for (int t = 0; t < len; t++) {
                    float p = scores[t] * norm;
                    long off = (long) t * kvDim + kvo;
                    if (f16) {
                        for (int d = 0; d < headDim; d++) out[oo + d] += p * Float.float16ToFloat(vc.getAtIndex(CpuKvCache.F16, off + d));
                    } else {
                        axpyF32(p, vc, off, out, oo, headDim);
                    }
                }
            }
        }
        buf(outb).written();
    }

    private static void store(CpuKvCache c, MemorySegment seg, long at, float[] src, int srcOff, int len) {
        if (c.type() == KvType.F32) {
            MemorySegment.copy(src, srcOff, seg, CpuKvCache.F32, at * 4, len);
        } else {
            for (int j = 0; j < len; j++) seg.setAtIndex(CpuKvCache.F16, at + j, Float.floatToFloat16(src[srcOff + j]));
        }
    }

    /** Dot of {@code q[qo..qo+n)} with f32 cache elements {@code [off, off+n)}. */
    private static float dotF32(float[] q, int qo, MemorySegment kc, long off, int n) {
        int j = 0;
        FloatVector acc = FloatVector.zero(S);
        int bound = S.loopBound(n);
        for (; j < bound; j += S.length()) {
            FloatVector a = FloatVector.fromArray(S, q, qo + j);
            FloatVector b = FloatVector.fromMemorySegment(S, kc, (off + j) * 4, ByteOrder.nativeOrder());
            acc = a.fma(b, acc);
        }
        float s = VectorKernels.sum(acc);
        for (; j < n; j++) s += q[qo + j] * kc.getAtIndex(CpuKvCache.F32, off + j);
        return s;
    }

    private static float dotF16(float[] q, int qo, MemorySegment kc, long off, int n) {
        float s = 0f;
        for (int j = 0; j < n; j++) s += q[qo + j] * Float.float16ToFloat(kc.getAtIndex(CpuKvCache.F16, off + j));
        return s;
    }

    /** {@code out[oo..oo+n) += p * cache[off..off+n)}. */
    private static void axpyF32(float p, MemorySegment vc, long off, float[] out, int oo, int n) {
        int j = 0;
        FloatVector pv = FloatVector.broadcast(S, p);
        int bound = S.loopBound(n);
        for (; j < bound; j += S.length()) {
            FloatVector o = FloatVector.fromArray(S, out, oo + j);
            FloatVector b = FloatVector.fromMemorySegment(S, vc, (off + j) * 4, ByteOrder.nativeOrder());
            b.fma(pv, o).intoArray(out, oo + j);
        }
        for (; j < n; j++) out[oo + j] += p * vc.getAtIndex(CpuKvCache.F32, off + j);
    }

    @Override
    public void siluMul(Buf gateb, Buf upb, long count) {
        float[] g = buf(gateb).a;
        float[] u = buf(upb).a;
        int c = Math.toIntExact(count);
        for (int j = 0; j < c; j++) {
            float a = g[j];
            g[j] = a / (1f + (float) Math.exp(-a)) * u[j];
        }
        buf(gateb).written();
    }

    @Override
    public void add(Buf xb, Buf yb, long count) {
        float[] x = buf(xb).a;
        float[] y = buf(yb).a;
        int c = Math.toIntExact(count);
        for (int j = 0; j < c; j++) x[j] += y[j];
        buf(xb).written();
    }

    @Override
    public void copyRows(Buf src, int[] rows, int dim, Buf dst) {
        float[] s = buf(src).a;
        float[] d = buf(dst).a;
        for (int j = 0; j < rows.length; j++) System.arraycopy(s, rows[j] * dim, d, j * dim, dim);
        buf(dst).written();
    }

    @Override
    public void sync() {
        // Every operation has completed when its call returns.
    }

    @Override
    public void close() {
        ExecutorService p;
        synchronized (this) {
            p = preparer;
        }
        if (p != null) {
            synchronized (pending) {
                for (Future<Repacked> f : pending.values()) f.cancel(false);
                pending.clear();
            }
            p.shutdown();
            boolean interrupted = false;
            while (true) {
                try {
                    if (p.awaitTermination(1, TimeUnit.MINUTES)) break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }
        matmul.close();
        if (repacked != null) repacked.close();
        if (cache != null) cache.close();
    }

    /** Whether {@code type} has a CPU matrix kernel (every type Strata reads does). */
    static boolean supported(GgmlType type) {
        return type != GgmlType.Q8_K;
    }
}
