package io.strata.engine.cpu;

import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Matrix products of ggml weights with f32 activations: {@code out[i*rows + r] = sum_c w[r][c] * x[i*cols + c]}
 * for {@code i < n}, on a persistent pool of threads.
 *
 * <p>Work is split across output rows only: thread {@code t} of {@code T} owns a contiguous range of rows and, for
 * each of its rows, computes the dot products with all {@code n} inputs while the row is in L1, so every weight is
 * read from memory once per call whatever {@code n} is. Weights are dotted with the activation converted once into
 * {@link ActivationCache} as llama.cpp does: Q8_0 or Q8_K blocks for quantized weights, values rounded to F16 / BF16
 * for F16 / BF16 weights; F32 weights with the f32 values.
 *
 * <p>Kernels: the Vector API ones ({@link VectorKernels}) unless {@code -Dstrata.kernels=scalar} is set (read once)
 * or the machine has no 256-bit vectors, then the scalar twins ({@link ScalarKernels}).
 *
 * <p>Weights are read in place (ggml layout, usually the file map) unless {@link #prepare} rewrote a tensor into
 * the row-interleaved layout of {@link Repacked} (Q4_0, Q8_0, Q4_K, Q6_K), which the interleaved kernels
 * ({@link InterleavedKernels}) read 2-3x faster at the cost of a copy of the tensor.
 *
 * <p>Threads: {@code threads - 1} daemon workers are started once; the caller runs the first share itself, so
 * {@code threads = 1} runs everything on the caller's thread. Workers spin briefly and then park between calls.
 * One {@code MatMul} serves one caller thread at a time.
 */
public final class MatMul implements AutoCloseable {

    /** True when the scalar kernels are forced ({@code -Dstrata.kernels=scalar}) or vectors are not available. */
    public static final boolean SCALAR = "scalar".equals(System.getProperty("strata.kernels")) || !VectorKernels.SUPPORTED;

    /**
     * {@code -Dstrata.cpu.interleave=true}: every quantized weight of an interleavable type is {@link #prepare}d the
     * first time it is multiplied, into memory this {@code MatMul} owns (huge-page advised, see {@link HugePages};
     * freed by {@link #close}). Off by default:
     * the copy doubles the resident weight bytes, and weights are meant to stay in the file map.
     */
    public static final boolean AUTO_INTERLEAVE = Boolean.getBoolean("strata.cpu.interleave");

    private static final int SPIN = 20_000;

    private final int threads;
    private final Worker[] workers;
    /** Interleaved copies by source tensor (null: declined); adopted and forgotten from other threads than the matmul's. */
    private final Map<Tensor, Repacked> prepared = java.util.Collections.synchronizedMap(new IdentityHashMap<>());
    private Arena autoArena;
    private final InterleavedKernels.Scratch[] scratch;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile int epoch;
    private volatile boolean closed;
    private volatile Thread caller;
    private volatile boolean callerParked;
    private volatile Throwable failure;

    // The current job, published to the workers by the volatile write of epoch.
    private GgmlType jobType;
    private MemorySegment jobW;
    private long jobRowBytes;
    private int jobCols;
    private int jobRows;
    private int jobN;
    private float[] jobX;
    private ActivationCache jobCache;
    private float[] jobOut;
    private boolean jobScalar;
    private Repacked jobPacked;

    public MatMul(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1: " + threads);
        this.threads = threads;
        this.workers = new Worker[threads - 1];
        this.scratch = new InterleavedKernels.Scratch[threads];
        for (int t = 0; t < threads; t++) scratch[t] = new InterleavedKernels.Scratch();
        for (int t = 1; t < threads; t++) {
            Worker wk = new Worker(t);
            workers[t - 1] = wk;
            wk.thread.start();
        }
    }

    public int threads() {
        return threads;
    }

    /**
     * Rewrites {@code w} into the interleaved layout ({@link Repacked#bytes} bytes from {@code alloc}) and uses that copy
     * for every later {@code matmul} with this same {@code Tensor} object (looked up by identity). The memory must be
     * readable by the pool's threads (a shared or automatic arena, or a mapped file). Returns false, doing
     * nothing, when the type has no interleaved kernel here, the scalar kernels are forced, or a block scale is
     * infinite or NaN (such a tensor stays on the row-major kernels).
     */
    public boolean prepare(Tensor w, SegmentAllocator alloc) {
        if (SCALAR || !Repacked.supports(w.type())) return false;
        Repacked p = Repacked.of(w, alloc);
        if (p == null) return false;
        for (Worker wk : workers) {
            if (!p.data.isAccessibleBy(wk.thread)) {
                throw new IllegalArgumentException("prepare " + w + ": the allocator's memory is confined to one thread;"
                        + " the matmul threads need shared memory (Arena.ofShared() or ofAuto())");
            }
        }
        prepared.put(w, p);
        return true;
    }

    /**
     * Uses {@code p} (interleaved elsewhere, e.g. on another thread or read from a stored copy) for every later
     * {@code matmul} with {@code p.source()}, as {@link #prepare} would.
     */
    void adopt(Repacked p) {
        for (Worker wk : workers) {
            if (!p.data.isAccessibleBy(wk.thread)) {
                throw new IllegalArgumentException("adopt " + p.source + ": the memory is confined to one thread;"
                        + " the matmul threads need shared memory (Arena.ofShared() or ofAuto())");
            }
        }
        prepared.put(p.source, p);
    }

    /** Stops using {@code w}'s interleaved copy and returns it (null when there was none); the caller frees it. */
    Repacked forget(Tensor w) {
        return prepared.remove(w);
    }

    /** Forgets every prepared tensor (the caller owns and frees their memory). */
    public void clearPrepared() {
        prepared.clear();
    }

    /**
     * {@code out[i*rows + r] = sum_c w[r][c] * x[i*cols + c]} for {@code i < n}, {@code r < rows}, where
     * {@code [cols, rows]} is {@code w}'s shape. {@code cache} is the quantized-activation cache of {@code x}'s buffer
     * (invalidated by its owner whenever {@code x} changes).
     */
    public void matmul(Tensor w, float[] x, int n, float[] out, ActivationCache cache) {
        matmul(w, x, n, out, cache, SCALAR);
    }

    /** As {@link #matmul(Tensor, float[], int, float[], ActivationCache)}, choosing the kernels (for tests and benchmarks). */
    void matmul(Tensor w, float[] x, int n, float[] out, ActivationCache cache, boolean scalar) {
        GgmlType type = w.type();
        int cols = w.cols();
        int rows = w.rows();
        if (cols % type.blockSize != 0) {
            throw new IllegalArgumentException(w.name() + ": " + cols + " columns is not a multiple of the " + type + " block size " + type.blockSize);
        }
        if (n < 1) throw new IllegalArgumentException("n must be at least 1: " + n);
        if ((long) n * cols > x.length) {
            throw new IllegalArgumentException(w.name() + ": input holds " + x.length + " floats, needs " + n + " x " + cols);
        }
        if ((long) n * rows > out.length) {
            throw new IllegalArgumentException(w.name() + ": output holds " + out.length + " floats, needs " + n + " x " + rows);
        }
        if (w.data().byteSize() < w.rowBytes() * rows) {
            throw new IllegalArgumentException(w + ": data holds " + w.data().byteSize() + " bytes, needs " + w.rowBytes() * rows);
        }
        switch (activationOf(type)) {
            case Q8_0 -> cache.quantizeQ8_0(x, n, cols);
            case Q8_K -> cache.quantizeQ8_K(x, n, cols);
            case F16, BF16 -> x = cache.roundTo(type, x, n, cols);
            default -> { }
        }
        jobType = type;
        jobW = w.data();
        jobRowBytes = w.rowBytes();
        jobCols = cols;
        jobRows = rows;
        jobN = n;
        jobX = x;
        jobCache = cache;
        jobOut = out;
        jobScalar = scalar || !VectorKernels.SUPPORTED;
        if (AUTO_INTERLEAVE && !jobScalar && Repacked.supports(type) && !prepared.containsKey(w)) {
            if (autoArena == null) autoArena = Arena.ofShared();
            if (!prepare(w, HugePages.allocator(autoArena))) prepared.put(w, null); // declined: do not look again
        }
        jobPacked = jobScalar ? null : prepared.get(w);
        if (jobPacked != null) {
            if (activationOf(type) == GgmlType.Q8_0) cache.telescopeQ8_0(type);
            else cache.telescopeQ8_K(type);
            if (threads == 1 || jobPacked.groups < 2) {
                InterleavedKernels.run(jobPacked, 0, jobPacked.groups, cache, n, out, scratch[0]);
                return;
            }
        } else if (threads == 1 || rows < 2 * threads) {
            runRows(0, 0, rows);
            return;
        }
        failure = null;
        caller = Thread.currentThread();
        pending.set(threads - 1);
        epoch++;
        for (Worker wk : workers) {
            if (wk.parked) LockSupport.unpark(wk.thread);
        }
        runShare(0);
        awaitWorkers();
        Throwable f = failure;
        if (f != null) {
            failure = null;
            throw new IllegalStateException("matmul " + w + " failed in a worker thread", f);
        }
    }

    /**
     * The activation form a weight type is dotted with (ggml's vec_dot type): Q8_0, Q8_K, the floats rounded to F16 or
     * BF16, or F32 (the floats themselves).
     */
    static GgmlType activationOf(GgmlType weight) {
        return switch (weight) {
            case F32 -> GgmlType.F32;
            case F16 -> GgmlType.F16;
            case BF16 -> GgmlType.BF16;
            case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 -> GgmlType.Q8_0;
            case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K -> GgmlType.Q8_K;
        };
    }

    /** Dequantizes row {@code row} of {@code table} into {@code dst[dstOff..dstOff+cols)}. */
    public void embedRow(Tensor table, int row, float[] dst, int dstOff) {
        if (row < 0 || row >= table.rows()) {
            throw new IllegalArgumentException(table.name() + ": row " + row + " is outside 0.." + (table.rows() - 1));
        }
        Dequant.dequantizeRow(table.type(), table.data(), row * table.rowBytes(), dst, dstOff, table.cols());
    }

    private void runShare(int t) {
        Repacked p = jobPacked;
        if (p != null) {
            int per = (p.groups + threads - 1) / threads;
            int g0 = Math.min(p.groups, t * per), g1 = Math.min(p.groups, g0 + per);
            if (g0 < g1) InterleavedKernels.run(p, g0, g1, jobCache, jobN, jobOut, scratch[t]);
            return;
        }
        int rows = jobRows;
        // Equal shares, boundaries on multiples of 4 rows.
        int per = (rows / threads + 3) & ~3;
        int r0 = Math.min(rows, t * per);
        int r1 = t == threads - 1 ? rows : Math.min(rows, r0 + per);
        if (r0 < r1) runRows(t, r0, r1);
    }

    private void runRows(int t, int r0, int r1) {
        GgmlType type = jobType;
        MemorySegment w = jobW;
        long rowBytes = jobRowBytes;
        int cols = jobCols, rows = jobRows, n = jobN;
        float[] x = jobX, out = jobOut;
        ActivationCache a = jobCache;
        if (jobScalar) {
            for (int r = r0; r < r1; r++) {
                long o = r * rowBytes;
                for (int i = 0; i < n; i++) out[i * rows + r] = ScalarKernels.dot(type, w, o, cols, x, a, i);
            }
        } else {
            // Quantized rows are copied to a heap buffer first (see VectorKernels.dot): one memcpy per row, then
            // all n dot products read it from L1.
            InterleavedKernels.Scratch sc = scratch[t];
            if (sc.row.length < rowBytes) sc.row = new byte[Math.toIntExact(rowBytes)];
            byte[] row = sc.row;
            boolean copy = type.quantized(), unpack = VectorKernels.unpacks(type);
            if (unpack && sc.unpacked.length < cols) sc.unpacked = new short[cols];
            short[] q = sc.unpacked;
            for (int r = r0; r < r1; r++) {
                long o = r * rowBytes;
                if (copy) MemorySegment.copy(w, ValueLayout.JAVA_BYTE, o, row, 0, (int) rowBytes);
                if (unpack) VectorKernels.unpack(type, row, cols, q);
                for (int i = 0; i < n; i++) out[i * rows + r] = VectorKernels.dot(type, w, o, row, q, cols, x, a, i);
            }
        }
    }

    private void awaitWorkers() {
        for (int s = 0; s < SPIN && pending.get() != 0; s++) Thread.onSpinWait();
        while (pending.get() != 0) {
            callerParked = true;
            if (pending.get() != 0) LockSupport.park(this);
            callerParked = false;
        }
    }

    @Override
    public void close() {
        closed = true;
        epoch++;
        for (Worker wk : workers) LockSupport.unpark(wk.thread);
        for (Worker wk : workers) {
            try {
                wk.thread.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        prepared.clear();
        if (autoArena != null) {
            autoArena.close();
            autoArena = null;
        }
    }

    private final class Worker implements Runnable {
        final int index;
        final Thread thread;
        volatile boolean parked;

        Worker(int index) {
            this.index = index;
            this.thread = new Thread(this, "strata-matmul-" + index);
            thread.setDaemon(true);
        }

        @Override
        public void run() {
            int seen = 0; // the epoch at construction: a job published before this thread first runs must not be missed
            while (true) {
                int e;
                int s = 0;
                while ((e = epoch) == seen) {
                    if (s < SPIN) {
                        s++;
                        Thread.onSpinWait();
                    } else {
                        parked = true;
                        if (epoch == seen) LockSupport.park(this);
                        parked = false;
                    }
                }
                seen = e;
                if (closed) return;
                try {
                    runShare(index);
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    if (pending.decrementAndGet() == 0 && callerParked) LockSupport.unpark(caller);
                }
            }
        }
    }
}
