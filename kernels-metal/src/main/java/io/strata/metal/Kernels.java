package io.strata.metal;

import io.strata.engine.backend.KvType;
import io.strata.engine.tensor.GgmlType;
import io.strata.metal.Device.Commands;
import io.strata.metal.Device.DeviceBuffer;
import io.strata.metal.Device.Pipeline;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.HashMap;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The dispatch side of every kernel: which pipeline, the argument struct (byte for byte the struct in
 * {@code common.metal}), which buffer goes to which index at which offset, threadgroup memory lengths, and the
 * grid and threadgroup sizes. Shared by the real Metal device and the CPU shim, so the Linux tests exercise
 * exactly what runs on a Mac. One method per kernel family; each encodes one dispatch (nothing runs until the
 * command buffer is committed).
 *
 * <p>Not thread-safe (one argument scratch segment, reused because {@code setBytes} copies at once).
 */
public final class Kernels {

    /** A buffer and a byte offset into it, as bound with {@code setBuffer:offset:atIndex:}. */
    public record Ref(DeviceBuffer buffer, long offset) {
        public Ref plus(long bytes) {
            return new Ref(buffer, offset + bytes);
        }
    }

    // Argument structs, field for field as in common.metal (4-byte fields only, so no padding anywhere).
    public static final StructLayout MAT_ARGS = MemoryLayout.structLayout(
            JAVA_INT.withName("ncols"), JAVA_INT.withName("nrows"), JAVA_INT.withName("nin"),
            JAVA_INT.withName("row_bytes"), JAVA_INT.withName("x_stride"), JAVA_INT.withName("out_stride"));
    public static final StructLayout GET_ROWS_ARGS = MemoryLayout.structLayout(
            JAVA_INT.withName("ncols"), JAVA_INT.withName("row_bytes"), JAVA_INT.withName("n"), JAVA_INT.withName("nrows"));
    public static final StructLayout NORM_ARGS = MemoryLayout.structLayout(
            JAVA_INT.withName("ncols"), JAVA_INT.withName("nrows"), JAVA_FLOAT.withName("eps"));
    public static final StructLayout ROPE_ARGS = MemoryLayout.structLayout(
            JAVA_INT.withName("nrows"), JAVA_INT.withName("heads"), JAVA_INT.withName("head_dim"),
            JAVA_INT.withName("pairs"), JAVA_INT.withName("row_stride"));
    public static final StructLayout KV_STORE_ARGS = MemoryLayout.structLayout(
            JAVA_INT.withName("kv_dim"), JAVA_INT.withName("n"));
    public static final StructLayout ATTN_ARGS = MemoryLayout.structLayout(
            JAVA_INT.withName("n"), JAVA_INT.withName("heads"), JAVA_INT.withName("kv_heads"), JAVA_INT.withName("head_dim"),
            JAVA_INT.withName("q_stride"), JAVA_INT.withName("kv_dim"), JAVA_FLOAT.withName("scale"),
            JAVA_INT.withName("heads_per_tg"), JAVA_INT.withName("keys_per_tile"));
    public static final StructLayout ELT_ARGS = MemoryLayout.structLayout(
            JAVA_INT.withName("count"), JAVA_INT.withName("nrows"), JAVA_INT.withName("src_stride"), JAVA_INT.withName("dst_stride"));

    /** mul_mv: SIMD-groups per threadgroup and weight rows per SIMD-group (MV_NSG, MV_NR in matvec.metal). */
    static final int MV_NSG = 2;
    static final int MV_NR = 4;
    /** mul_mm tile (MM_BM, MM_BN, MM_BK in matmat.metal) and its 128 threads. */
    static final int MM_BM = 64;
    static final int MM_BN = 32;
    static final int MM_BK = 32;
    static final int MM_THREADS = 128;
    /** Largest head dimension the attention kernels are instantiated for. */
    public static final int MAX_HEAD_DIM = 256;
    static final int MAX_THREADGROUP_MEMORY = 32 * 1024;

    private final Device device;
    private final Map<String, Pipeline> pipelines = new HashMap<>();
    private final MemorySegment args = Arena.ofAuto().allocate(64, 16);

    public Kernels(Device device) {
        this.device = device;
    }

    public Device device() {
        return device;
    }

    private Pipeline pipeline(String name) {
        Pipeline p = pipelines.get(name);
        if (p == null) {
            p = device.pipeline(name);
            pipelines.put(name, p);
        }
        return p;
    }

    /** Kernel-name suffix of a weight type, as in {@code mul_mv_q4_0_f32}. */
    public static String typeName(GgmlType t) {
        return switch (t) {
            case F32 -> "f32";
            case F16 -> "f16";
            case BF16 -> "bf16";
            case Q4_0 -> "q4_0";
            case Q4_1 -> "q4_1";
            case Q5_0 -> "q5_0";
            case Q5_1 -> "q5_1";
            case Q8_0 -> "q8_0";
            case Q2_K -> "q2_K";
            case Q3_K -> "q3_K";
            case Q4_K -> "q4_K";
            case Q5_K -> "q5_K";
            case Q6_K -> "q6_K";
            case Q8_K -> throw new IllegalArgumentException("Q8_K is an activation format, not a weight type: no Metal kernel");
        };
    }

    private static int u32(long v, String what) {
        if (v < 0 || v > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException(what + " = " + v + " does not fit the kernels' 32-bit argument");
        }
        return (int) v;
    }

    private static int ceilDiv(long a, long b) {
        return Math.toIntExact((a + b - 1) / b);
    }

    private static int pad16(long bytes) {
        return Math.toIntExact((bytes + 15) & ~15L);
    }

    private void dispatch(Commands c, Pipeline p, int gx, int gy, int gz, int threads) {
        if (threads > p.maxThreadsPerGroup()) {
            throw new IllegalStateException(p.name() + ": " + threads + " threads per threadgroup, the pipeline allows "
                    + p.maxThreadsPerGroup());
        }
        if (gx == 0 || gy == 0 || gz == 0) {
            return;
        }
        c.dispatchThreadgroups(gx, gy, gz, threads, 1, 1);
    }

    private MemorySegment args(StructLayout layout, int... values) {
        for (int i = 0; i < values.length; i++) {
            args.set(JAVA_INT, 4L * i, values[i]);
        }
        return args.asSlice(0, layout.byteSize());
    }

    private static void bind(Commands c, Ref r, int index) {
        c.setBuffer(r.buffer(), r.offset(), index);
    }

    // ---- matrix products ---------------------------------------------------------------------------------

    /**
     * {@code out[i*outStride + r] = sum_c w[r][c] * x[i*xStride + c]} for {@code i < nin}, {@code r < nrows} with the
     * mat-vec kernel {@code mul_mv_<type>_f32}: grid {@code (ceil(nrows / 8), nin)}, 64 threads.
     */
    public void mulMv(Commands c, GgmlType type, Ref w, int ncols, int nrows, long rowBytes, Ref x, int xStride,
                      Ref out, int outStride, int nin) {
        Pipeline p = use(c, "mul_mv_" + typeName(type) + "_f32");
        matArgs(c, ncols, nrows, nin, rowBytes, xStride, outStride);
        bind(c, w, 1);
        bind(c, x, 2);
        bind(c, out, 3);
        dispatch(c, p, ceilDiv(nrows, MV_NSG * MV_NR), nin, 1, 32 * MV_NSG);
    }

    /**
     * The same product with the tiled mat-mat kernel {@code mul_mm_<type>_f32}: grid {@code (ceil(nrows / 64),
     * ceil(nin / 32))}, 128 threads, 8 KiB + 4 KiB of threadgroup memory. Needs {@link Device#supportsSimdgroupMatrix()}.
     */
    public void mulMm(Commands c, GgmlType type, Ref w, int ncols, int nrows, long rowBytes, Ref x, int xStride,
                      Ref out, int outStride, int nin) {
        Pipeline p = use(c, "mul_mm_" + typeName(type) + "_f32");
        matArgs(c, ncols, nrows, nin, rowBytes, xStride, outStride);
        bind(c, w, 1);
        bind(c, x, 2);
        bind(c, out, 3);
        c.setThreadgroupMemoryLength(MM_BM * MM_BK * 4, 0);
        c.setThreadgroupMemoryLength(MM_BN * MM_BK * 4, 1);
        dispatch(c, p, ceilDiv(nrows, MM_BM), ceilDiv(nin, MM_BN), 1, MM_THREADS);
    }

    private void matArgs(Commands c, int ncols, int nrows, int nin, long rowBytes, int xStride, int outStride) {
        if (ncols <= 0 || nrows <= 0) {
            throw new IllegalArgumentException("matrix of " + nrows + " x " + ncols);
        }
        c.setBytes(args(MAT_ARGS, ncols, nrows, nin, u32(rowBytes, "row_bytes"), xStride, outStride), 0);
    }

    // ---- rows -----------------------------------------------------------------------------------------------

    /** {@code out[i][:] = table[ids[i]]} dequantized ({@code get_rows_<type>}): grid {@code (ceil(ncols / 512), n)}, 64 threads. */
    public void getRows(Commands c, GgmlType type, Ref table, int ncols, long rowBytes, int tableRows, Ref ids, int n, Ref out) {
        Pipeline p = use(c, "get_rows_" + typeName(type));
        c.setBytes(args(GET_ROWS_ARGS, ncols, u32(rowBytes, "row_bytes"), n, tableRows), 0);
        bind(c, table, 1);
        bind(c, ids, 2);
        bind(c, out, 3);
        dispatch(c, p, ceilDiv(ncols, 512), n, 1, 64);
    }

    /** {@code dst[j][:] = src[rows[j]][:]} for {@code j < nrows}, rows of {@code dim} floats. */
    public void copyRows(Commands c, Ref src, Ref rows, int nrows, int dim, Ref dst) {
        Pipeline p = use(c, "copy_rows_f32");
        c.setBytes(args(ELT_ARGS, dim, nrows, dim, dim), 0);
        bind(c, src, 1);
        bind(c, rows, 2);
        bind(c, dst, 3);
        dispatch(c, p, ceilDiv(dim, 256), nrows, 1, 256);
    }

    // ---- norms and rope -------------------------------------------------------------------------------------

    /** RMS norm of {@code n} rows of {@code dim} floats; one threadgroup per row of up to 256 threads. */
    public void rmsNorm(Commands c, Ref x, Ref weight, Ref out, int n, int dim, float eps) {
        Pipeline p = use(c, "rms_norm_f32");
        MemorySegment a = args(NORM_ARGS, dim, n, 0);
        a.set(JAVA_FLOAT, 8, eps);
        c.setBytes(a, 0);
        bind(c, x, 1);
        bind(c, weight, 2);
        bind(c, out, 3);
        c.setThreadgroupMemoryLength(32 * 4, 0);
        dispatch(c, p, n, 1, 1, Math.min(256, 32 * ceilDiv(dim, 32)));
    }

    /**
     * Rotates {@code pairs} pairs of each head of {@code n} rows ({@code heads * headDim} floats each) by
     * {@code pos[i] * invFreq[j]}; {@code rope_neox_f32} or {@code rope_norm_f32}. Grid {@code (heads, n)}.
     */
    public void rope(Commands c, boolean neox, Ref x, int n, int heads, int headDim, int pairs, Ref pos, Ref invFreq) {
        if (2 * pairs > headDim) {
            throw new IllegalArgumentException("rope rotates " + 2 * pairs + " dimensions of a " + headDim + "-dimension head");
        }
        Pipeline p = use(c, neox ? "rope_neox_f32" : "rope_norm_f32");
        c.setBytes(args(ROPE_ARGS, n, heads, headDim, pairs, heads * headDim), 0);
        bind(c, x, 1);
        bind(c, pos, 2);
        bind(c, invFreq, 3);
        dispatch(c, p, heads, n, 1, Math.min(256, 32 * ceilDiv(pairs, 32)));
    }

    // ---- attention ------------------------------------------------------------------------------------------

    /** Stores rows {@code i < n} of k and v ({@code kvDim} floats each) at {@code pos[i]} of the layer's cache. */
    public void kvStore(Commands c, KvType type, Ref k, Ref v, Ref pos, Ref kc, Ref vc, int n, int kvDim) {
        Pipeline p = use(c, "kv_store_" + kvName(type));
        c.setBytes(args(KV_STORE_ARGS, kvDim, n), 0);
        bind(c, k, 1);
        bind(c, v, 2);
        bind(c, pos, 3);
        bind(c, kc, 4);
        bind(c, vc, 5);
        dispatch(c, p, ceilDiv(kvDim, 256), n, 1, 256);
    }

    private static String kvName(KvType t) {
        return switch (t) {
            case F32 -> "f32";
            case F16 -> "f16";
        };
    }

    /** Head-size class of the attention kernels: the smallest of 32, 64, 128, 256 that holds {@code headDim}. */
    static int headClass(int headDim) {
        if (headDim <= 0 || headDim > MAX_HEAD_DIM) {
            throw new IllegalArgumentException("head dimension " + headDim + ": the Metal attention kernels support 1.." + MAX_HEAD_DIM);
        }
        int d = 32;
        while (d < headDim) {
            d *= 2;
        }
        return d;
    }

    /** Query heads per threadgroup of the vector kernel: 4, 2 or 1, whichever divides the group size. */
    static int headsPerThreadgroup(int heads, int kvHeads) {
        int group = heads / kvHeads;
        return group % 4 == 0 ? 4 : group % 2 == 0 ? 2 : 1;
    }

    private static void checkHeads(int heads, int kvHeads) {
        if (kvHeads <= 0 || heads % kvHeads != 0) {
            throw new IllegalArgumentException(heads + " query heads cannot be grouped over " + kvHeads + " KV heads");
        }
    }

    /**
     * Decode attention ({@code attn_vec_f32_kv_<type>_d<class>}) for {@code n} rows of one sequence, each attending
     * to positions {@code 0..pos[i]}; {@code maxLen} is the largest {@code pos[i] + 1} (it sizes the SIMD-group count).
     */
    public void attnVec(Commands c, KvType type, Ref q, Ref kc, Ref vc, Ref pos, Ref out, int n, int heads, int kvHeads,
                        int headDim, float scale, int maxLen) {
        checkHeads(heads, kvHeads);
        int hpt = headsPerThreadgroup(heads, kvHeads);
        Pipeline p = use(c, "attn_vec_f32_kv_" + kvName(type) + "_d" + headClass(headDim));
        int nsg = maxLen > 512 ? 8 : 4;
        while (nsg > 1 && (long) nsg * hpt * (headDim + 2) * 4 > MAX_THREADGROUP_MEMORY) {
            nsg /= 2;
        }
        MemorySegment a = args(ATTN_ARGS, n, heads, kvHeads, headDim, heads * headDim, kvHeads * headDim, 0, hpt, 0);
        a.set(JAVA_FLOAT, 24, scale);
        c.setBytes(a, 0);
        bindAttention(c, q, kc, vc, pos, out);
        c.setThreadgroupMemoryLength(pad16((long) nsg * hpt * (headDim + 2) * 4), 0);
        dispatch(c, p, heads / hpt, n, 1, 32 * nsg);
    }

    /** Prefill attention ({@code attn_tile_f32_kv_<type>_d<class>}): up to 8 query rows of one head per threadgroup. */
    public void attnTile(Commands c, KvType type, Ref q, Ref kc, Ref vc, Ref pos, Ref out, int n, int heads, int kvHeads,
                         int headDim, float scale) {
        checkHeads(heads, kvHeads);
        Pipeline p = use(c, "attn_tile_f32_kv_" + kvName(type) + "_d" + headClass(headDim));
        int nsg = Math.min(8, n);
        int keysPerTile = headDim <= 128 ? 32 : 16;
        MemorySegment a = args(ATTN_ARGS, n, heads, kvHeads, headDim, heads * headDim, kvHeads * headDim, 0, 0, keysPerTile);
        a.set(JAVA_FLOAT, 24, scale);
        c.setBytes(a, 0);
        bindAttention(c, q, kc, vc, pos, out);
        c.setThreadgroupMemoryLength(pad16((long) nsg * headDim * 4), 0);
        c.setThreadgroupMemoryLength(pad16((long) keysPerTile * (headDim + 1) * 4), 1);
        c.setThreadgroupMemoryLength(nsg * 32 * 4, 2);
        dispatch(c, p, heads, ceilDiv(n, nsg), 1, 32 * nsg);
    }

    private static void bindAttention(Commands c, Ref q, Ref kc, Ref vc, Ref pos, Ref out) {
        bind(c, q, 1);
        bind(c, kc, 2);
        bind(c, vc, 3);
        bind(c, pos, 4);
        bind(c, out, 5);
    }

    // ---- element-wise ---------------------------------------------------------------------------------------

    /** {@code gate[j] = silu(gate[j]) * up[j]} for {@code j < count}. */
    public void siluMul(Commands c, Ref gate, Ref up, long count) {
        elementwise(c, "silu_mul_f32", gate, up, count);
    }

    /** {@code x[j] += y[j]} for {@code j < count}. */
    public void add(Commands c, Ref x, Ref y, long count) {
        elementwise(c, "add_f32", x, y, count);
    }

    /** {@code dst[j] = src[j]} for {@code j < count}. */
    public void copy(Commands c, Ref src, Ref dst, long count) {
        elementwise(c, "copy_f32", src, dst, count);
    }

    private void elementwise(Commands c, String kernel, Ref a, Ref b, long count) {
        Pipeline p = use(c, kernel);
        c.setBytes(args(ELT_ARGS, u32(count, "count"), 1, 0, 0), 0);
        bind(c, a, 1);
        bind(c, b, 2);
        dispatch(c, p, ceilDiv(count, 256), 1, 1, 256);
    }

    /** {@code x[i][j] += bias[j]} for {@code i < n}, {@code j < cols}. */
    public void addBias(Commands c, Ref x, Ref bias, int n, int cols) {
        Pipeline p = use(c, "add_bias_f32");
        c.setBytes(args(ELT_ARGS, cols, n, cols, cols), 0);
        bind(c, x, 1);
        bind(c, bias, 2);
        dispatch(c, p, ceilDiv(cols, 256), n, 1, 256);
    }

    private Pipeline use(Commands c, String name) {
        Pipeline p = pipeline(name);
        c.setPipeline(p);
        return p;
    }
}
