package io.strata.metal;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.Buf;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.backend.Rope;
import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;
import io.strata.metal.Device.Commands;
import io.strata.metal.Device.DeviceBuffer;
import io.strata.metal.Kernels.Ref;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The GPU backend: every operation of a stage step is encoded into one command buffer, committed and waited for
 * at {@link #sync()} (one GPU round trip per step). Activations and KV caches live in shared (unified) memory;
 * weights are wrapped in place ({@link WeightBuffers}). Small per-step arrays (token ids, positions, row lists)
 * go to a per-step argument buffer that is reused only after the step completed.
 *
 * <p>Works on any {@link Device}: the real Metal device on macOS, or the CPU shim in the Linux tests. Not
 * thread-safe: one step at a time, as {@link io.strata.engine.model.Stage} drives it.
 */
public final class MetalBackend implements Backend {

    /** Products with fewer input rows than this use the mat-vec kernels; larger ones the tiled mat-mat kernels. */
    public static final int MV_MAX_ROWS = 8;

    private final Device device;
    private final Kernels kernels;
    private final WeightBuffers weights;
    private final StepArena arena;
    private final Map<Rope, DeviceBuffer> invFreqs = new IdentityHashMap<>();
    private final List<MetalBuf> bufs = new ArrayList<>();
    private final boolean ownsDevice;
    private Commands commands;
    private long steps;

    /** A backend on {@code device}; {@code ownsDevice}: close the device with the backend. */
    public MetalBackend(Device device, boolean ownsDevice) {
        this.device = device;
        this.ownsDevice = ownsDevice;
        this.kernels = new Kernels(device);
        this.weights = new WeightBuffers(device);
        this.arena = new StepArena(device);
    }

    @Override
    public String name() {
        return "metal";
    }

    public Device device() {
        return device;
    }

    /** Bytes the device can use without hurting performance (advertised in the worker's registration). */
    @Override
    public long recommendedWorkingSetBytes() {
        return recommendedMaxWorkingSetSize();
    }

    public long recommendedMaxWorkingSetSize() {
        return device.recommendedMaxWorkingSetSize();
    }

    /** Weight bytes wrapped without a copy, and weight bytes copied (non-mapped tensors or refused mappings). */
    public long wrappedWeightBytes() {
        return weights.wrappedBytes();
    }

    public long copiedWeightBytes() {
        return weights.copiedBytes();
    }

    /** Command buffers committed so far. */
    public long steps() {
        return steps;
    }

    // ---- buffers --------------------------------------------------------------------------------------------

    static final class MetalBuf implements Buf {
        final DeviceBuffer buffer;
        final long floats;

        MetalBuf(DeviceBuffer buffer, long floats) {
            this.buffer = buffer;
            this.floats = floats;
        }

        @Override
        public long floats() {
            return floats;
        }

        Ref at(long floatOffset) {
            return new Ref(buffer, 4 * floatOffset);
        }
    }

    private static MetalBuf buf(Buf b, long needFloats, String what) {
        if (!(b instanceof MetalBuf m)) {
            throw new IllegalArgumentException(what + " is not a buffer of the Metal backend: " + b);
        }
        if (needFloats > m.floats) {
            throw new IllegalArgumentException(what + " holds " + m.floats + " floats, the operation needs " + needFloats);
        }
        return m;
    }

    @Override
    public Buf allocate(long floats) {
        if (floats <= 0) {
            throw new IllegalArgumentException("buffer of " + floats + " floats");
        }
        MetalBuf b = new MetalBuf(device.newBuffer(4 * floats), floats);
        bufs.add(b);
        return b;
    }

    static final class MetalKvCache implements KvCache {
        final DeviceBuffer buffer;
        final int firstLayer;
        final int endLayer;
        final int contextLength;
        final int kvDim;
        final KvType type;
        boolean closed;

        MetalKvCache(DeviceBuffer buffer, int firstLayer, int endLayer, int contextLength, int kvDim, KvType type) {
            this.buffer = buffer;
            this.firstLayer = firstLayer;
            this.endLayer = endLayer;
            this.contextLength = contextLength;
            this.kvDim = kvDim;
            this.type = type;
        }

        /** Byte offset of layer {@code layer}'s keys ({@code v}: values): [layer][K|V][position][kvDim]. */
        long offset(int layer, boolean v) {
            return ((long) (layer - firstLayer) * 2 + (v ? 1 : 0)) * contextLength * kvDim * type.bytes;
        }

        @Override
        public int firstLayer() {
            return firstLayer;
        }

        @Override
        public int endLayer() {
            return endLayer;
        }

        @Override
        public int contextLength() {
            return contextLength;
        }

        @Override
        public int kvDim() {
            return kvDim;
        }

        @Override
        public KvType type() {
            return type;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                buffer.release();
            }
        }
    }

    @Override
    public KvCache newKvCache(int firstLayer, int endLayer, int contextLength, int kvDim, KvType type) {
        if (firstLayer < 0 || endLayer <= firstLayer || contextLength <= 0 || kvDim <= 0) {
            throw new IllegalArgumentException("KV cache for layers [" + firstLayer + ", " + endLayer + "), context " + contextLength
                    + ", kvDim " + kvDim);
        }
        long bytes = 2L * (endLayer - firstLayer) * contextLength * kvDim * type.bytes;
        return new MetalKvCache(device.newBuffer(bytes), firstLayer, endLayer, contextLength, kvDim, type);
    }

    private Commands commands() {
        if (commands == null) {
            commands = device.beginCommands();
        }
        return commands;
    }

    @Override
    public void upload(float[] src, int srcOff, int len, Buf dst) {
        MetalBuf d = buf(dst, len, "upload destination");
        if (commands == null) {
            MemorySegment.copy(src, srcOff, d.buffer.contents(), JAVA_FLOAT, 0, len);
        } else {
            // operations are pending that may still read dst: stage the data and copy it in order on the GPU
            Ref staged = arena.put(src, srcOff, len);
            kernels.copy(commands(), staged, d.at(0), len);
        }
    }

    @Override
    public void download(Buf src, long srcOff, float[] dst, int dstOff, int len) {
        MetalBuf s = buf(src, srcOff + len, "download source");
        if (commands != null) {
            sync();
        }
        MemorySegment.copy(s.buffer.contents(), JAVA_FLOAT, 4 * srcOff, dst, dstOff, len);
    }

    // ---- operations -----------------------------------------------------------------------------------------

    @Override
    public void embed(Tensor table, int[] tokens, int n, Buf out) {
        int dim = table.cols();
        int vocab = table.rows();
        MetalBuf o = buf(out, (long) n * dim, "embedding output");
        for (int i = 0; i < n; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocab) {
                throw new IllegalArgumentException("token id " + tokens[i] + " at row " + i + " is outside the vocabulary of "
                        + vocab + " (" + table.name() + ")");
            }
        }
        long rowBytes = table.rowBytes();
        WeightBuffers.Span whole = weights.locate(table, rowBytes, 0);
        if (whole.bytes() >= table.data().byteSize()) {
            kernels.getRows(commands(), table.type(), whole.ref(), dim, rowBytes, vocab, arena.put(tokens, 0, n), n, o.at(0));
            return;
        }
        // the table spans several windows: gather each row from the window that holds it
        for (int i = 0; i < n; i++) {
            WeightBuffers.Span s = weights.locate(table, rowBytes, tokens[i] * rowBytes);
            kernels.getRows(commands(), table.type(), s.ref(), dim, rowBytes, 1, arena.put(new int[] {0}, 0, 1), 1, o.at((long) i * dim));
        }
    }

    @Override
    public void rmsNorm(Buf x, Tensor weight, int n, int dim, float eps, Buf out) {
        requireF32Vector(weight, dim, "rms norm weight");
        MetalBuf xb = buf(x, (long) n * dim, "rms norm input");
        MetalBuf ob = buf(out, (long) n * dim, "rms norm output");
        kernels.rmsNorm(commands(), xb.at(0), weights.locate(weight, weight.data().byteSize(), 0).ref(), ob.at(0), n, dim, eps);
    }

    private static void requireF32Vector(Tensor t, int len, String what) {
        if (t.type() != GgmlType.F32 || t.elements() < len) {
            throw new IllegalArgumentException(what + " " + t + ": the Metal backend needs " + len + " F32 values");
        }
    }

    @Override
    public void matmul(Tensor w, Buf x, int n, Buf out) {
        int cols = w.cols();
        int rows = w.rows();
        MetalBuf xb = buf(x, (long) n * cols, "matmul input of " + w.name());
        MetalBuf ob = buf(out, (long) n * rows, "matmul output of " + w.name());
        long rowBytes = w.rowBytes();
        boolean mm = n >= MV_MAX_ROWS && device.supportsSimdgroupMatrix();
        Commands c = commands();
        for (int r0 = 0; r0 < rows; ) {
            WeightBuffers.Span s = weights.locate(w, rowBytes, r0 * rowBytes);
            int count = (int) Math.min(rows - r0, s.bytes() / rowBytes);
            Ref o = ob.at(r0);
            if (mm) {
                kernels.mulMm(c, w.type(), s.ref(), cols, count, rowBytes, xb.at(0), cols, o, rows, n);
            } else {
                kernels.mulMv(c, w.type(), s.ref(), cols, count, rowBytes, xb.at(0), cols, o, rows, n);
            }
            r0 += count;
        }
    }

    @Override
    public void addBias(Buf x, Tensor bias, int n) {
        int cols = bias.cols();
        requireF32Vector(bias, cols, "bias");
        MetalBuf xb = buf(x, (long) n * cols, "bias input");
        kernels.addBias(commands(), xb.at(0), weights.locate(bias, bias.data().byteSize(), 0).ref(), n, cols);
    }

    @Override
    public void rope(Buf x, int n, int heads, int headDim, int[] positions, Rope rope) {
        MetalBuf xb = buf(x, (long) n * heads * headDim, "rope input");
        DeviceBuffer inv = invFreqs.get(rope);
        if (inv == null) {
            int pairs = rope.dims() / 2;
            inv = device.newBuffer(4L * Math.max(1, pairs));
            for (int i = 0; i < pairs; i++) {
                inv.contents().setAtIndex(JAVA_FLOAT, i, (float) rope.invFreq(i));
            }
            invFreqs.put(rope, inv);
        }
        kernels.rope(commands(), rope.neox(), xb.at(0), n, heads, headDim, rope.dims() / 2, arena.put(positions, 0, n), new Ref(inv, 0));
    }

    @Override
    public void attention(Buf q, Buf k, Buf v, int n, int layer, KvCache[] caches, int[] positions,
                          int heads, int kvHeads, int headDim, Buf out) {
        int qDim = heads * headDim;
        int kvDim = kvHeads * headDim;
        MetalBuf qb = buf(q, (long) n * qDim, "attention queries");
        MetalBuf kb = buf(k, (long) n * kvDim, "attention keys");
        MetalBuf vb = buf(v, (long) n * kvDim, "attention values");
        MetalBuf ob = buf(out, (long) n * qDim, "attention output");
        float scale = (float) (1.0 / Math.sqrt(headDim));
        Commands c = commands();
        for (int g0 = 0; g0 < n; ) {
            MetalKvCache cache = cache(caches[g0], g0, layer, kvDim, positions[g0]);
            int g1 = g0 + 1;
            int maxLen = positions[g0] + 1;
            while (g1 < n && caches[g1] == caches[g0]) {
                cache(caches[g1], g1, layer, kvDim, positions[g1]);
                maxLen = Math.max(maxLen, positions[g1] + 1);
                g1++;
            }
            int rows = g1 - g0;
            Ref pos = arena.put(positions, g0, rows);
            Ref kc = new Ref(cache.buffer, cache.offset(layer, false));
            Ref vc = new Ref(cache.buffer, cache.offset(layer, true));
            kernels.kvStore(c, cache.type, kb.at((long) g0 * kvDim), vb.at((long) g0 * kvDim), pos, kc, vc, rows, kvDim);
            if (rows == 1) {
                kernels.attnVec(c, cache.type, qb.at((long) g0 * qDim), kc, vc, pos, ob.at((long) g0 * qDim), rows, heads, kvHeads,
                        headDim, scale, maxLen);
            } else {
                kernels.attnTile(c, cache.type, qb.at((long) g0 * qDim), kc, vc, pos, ob.at((long) g0 * qDim), rows, heads, kvHeads,
                        headDim, scale);
            }
            g0 = g1;
        }
    }

    private static MetalKvCache cache(KvCache kc, int row, int layer, int kvDim, int position) {
        if (!(kc instanceof MetalKvCache c)) {
            throw new IllegalArgumentException("row " + row + ": KV cache is not one of the Metal backend's: " + kc);
        }
        if (c.closed) {
            throw new IllegalStateException("row " + row + ": KV cache was closed");
        }
        if (layer < c.firstLayer || layer >= c.endLayer) {
            throw new IllegalArgumentException("row " + row + ": layer " + layer + " is outside the cache's layers [" + c.firstLayer + ", "
                    + c.endLayer + ")");
        }
        if (c.kvDim != kvDim) {
            throw new IllegalArgumentException("row " + row + ": cache holds " + c.kvDim + " values per position, attention needs " + kvDim);
        }
        if (position < 0 || position >= c.contextLength) {
            throw new IllegalArgumentException("row " + row + ": position " + position + " is outside the cache's context of " + c.contextLength);
        }
        return c;
    }

    @Override
    public void siluMul(Buf gate, Buf up, long count) {
        kernels.siluMul(commands(), buf(gate, count, "silu gate").at(0), buf(up, count, "silu up").at(0), count);
    }

    @Override
    public void add(Buf x, Buf y, long count) {
        kernels.add(commands(), buf(x, count, "add destination").at(0), buf(y, count, "add operand").at(0), count);
    }

    @Override
    public void copyRows(Buf src, int[] rows, int dim, Buf dst) {
        MetalBuf s = (MetalBuf) buf(src, 0, "copyRows source");
        MetalBuf d = buf(dst, (long) rows.length * dim, "copyRows destination");
        for (int j = 0; j < rows.length; j++) {
            if (rows[j] < 0 || (long) (rows[j] + 1) * dim > s.floats) {
                throw new IllegalArgumentException("copyRows: row " + rows[j] + " (entry " + j + ") is outside a source of "
                        + s.floats / dim + " rows of " + dim);
            }
        }
        if (rows.length == 0) {
            return;
        }
        kernels.copyRows(commands(), s.at(0), arena.put(rows, 0, rows.length), rows.length, dim, d.at(0));
    }

    @Override
    public void sync() {
        if (commands == null) {
            return;
        }
        Commands c = commands;
        commands = null;
        try {
            c.commitAndWait();
            steps++;
        } finally {
            arena.reset();
        }
    }

    @Override
    public void close() {
        try {
            if (commands != null) {
                sync();
            }
        } finally {
            for (MetalBuf b : bufs) {
                b.buffer.release();
            }
            bufs.clear();
            for (DeviceBuffer b : invFreqs.values()) {
                b.release();
            }
            invFreqs.clear();
            weights.close();
            arena.close();
            if (ownsDevice) {
                device.close();
            }
        }
    }

    /**
     * Bump allocator for the small arrays of one step (ids, positions, rows), in shared memory. Entries are written
     * by the host while encoding and read by the GPU after commit; the memory is reused only after {@link #reset()},
     * which {@link #sync()} calls once the command buffer completed.
     */
    static final class StepArena implements AutoCloseable {
        private static final long INITIAL = 64 * 1024;
        private final Device device;
        private DeviceBuffer current;
        private long used;
        private final List<DeviceBuffer> retired = new ArrayList<>();

        StepArena(Device device) {
            this.device = device;
        }

        private long reserve(long bytes) {
            long need = (bytes + 15) & ~15L;
            if (current == null || used + need > current.length()) {
                if (current != null) {
                    retired.add(current);
                }
                long size = Math.min(device.maxBufferLength(), Math.max(INITIAL, Long.highestOneBit(need) * 2));
                if (size < need) {
                    throw new IllegalArgumentException("a step argument array of " + bytes + " bytes exceeds maxBufferLength "
                            + device.maxBufferLength());
                }
                current = device.newBuffer(size);
                used = 0;
            }
            long at = used;
            used += need;
            return at;
        }

        Ref put(int[] a, int off, int n) {
            long at = reserve(4L * Math.max(1, n));
            MemorySegment.copy(a, off, current.contents(), JAVA_INT, at, n);
            return new Ref(current, at);
        }

        Ref put(float[] a, int off, int n) {
            long at = reserve(4L * Math.max(1, n));
            MemorySegment.copy(a, off, current.contents(), JAVA_FLOAT, at, n);
            return new Ref(current, at);
        }

        void reset() {
            used = 0;
            for (DeviceBuffer b : retired) {
                b.release();
            }
            retired.clear();
        }

        @Override
        public void close() {
            reset();
            if (current != null) {
                current.release();
                current = null;
            }
        }
    }
}
