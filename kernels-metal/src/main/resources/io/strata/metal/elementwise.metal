// Element-wise kernels, row gathers (embedding lookup for every weight type) and copies.
// 1-D kernels: grid (ceil(count / 256), 1, 1) of 256 threads; row kernels: grid (ceil(cols / 256), rows, 1).
#include <metal_stdlib>
using namespace metal;

// gate[j] = silu(gate[j]) * up[j]
kernel void silu_mul_f32(
        constant EltArgs & args [[buffer(0)]], device float * gate [[buffer(1)]], device const float * up [[buffer(2)]],
        uint gid [[thread_position_in_grid]]) {
    if (gid < args.count) {
        float g = gate[gid];
        gate[gid] = g / (1.0f + exp(-g)) * up[gid];
    }
}

// x[j] += y[j]
kernel void add_f32(
        constant EltArgs & args [[buffer(0)]], device float * x [[buffer(1)]], device const float * y [[buffer(2)]],
        uint gid [[thread_position_in_grid]]) {
    if (gid < args.count) {
        x[gid] += y[gid];
    }
}

// dst[j] = src[j]
kernel void copy_f32(
        constant EltArgs & args [[buffer(0)]], device const float * src [[buffer(1)]], device float * dst [[buffer(2)]],
        uint gid [[thread_position_in_grid]]) {
    if (gid < args.count) {
        dst[gid] = src[gid];
    }
}

// x[i][j] += bias[j] for i < nrows, j < count
kernel void add_bias_f32(
        constant EltArgs & args [[buffer(0)]], device float * x [[buffer(1)]], device const float * bias [[buffer(2)]],
        uint2 gid [[thread_position_in_grid]]) {
    if (gid.x < args.count) {
        x[(ulong)gid.y * args.count + gid.x] += bias[gid.x];
    }
}

// dst[i][j] = src[rows[i]][j] for i < nrows, j < count
kernel void copy_rows_f32(
        constant EltArgs & args [[buffer(0)]], device const float * src [[buffer(1)]], device const int * rows [[buffer(2)]],
        device float * dst [[buffer(3)]], uint2 gid [[thread_position_in_grid]]) {
    if (gid.x < args.count) {
        dst[(ulong)gid.y * args.dst_stride + gid.x] = src[(ulong)rows[gid.y] * args.src_stride + gid.x];
    }
}

// out[i][:] = dequant(table[ids[i]]); grid (ceil(ncols / 512), n, 1) of 64 threads, 8 elements per thread.
template <typename T>
inline void get_rows_impl(constant GetRowsArgs & args, device const uchar * table, device const int * ids,
                          device float * out, uint3 tgpig, ushort tpitg) {
    uint i = tgpig.y;
    uint e0 = (tgpig.x * 64u + tpitg) * 8u;
    if (e0 >= args.ncols) {
        return;
    }
    device const uchar * row = table + (ulong)ids[i] * args.row_bytes;
    float v[8];
    uint n = min(8u, args.ncols - e0);
    if (n == 8u) {
        T::dequant8(row, e0, v);
    } else {
        T::tail(row, e0, n, v);
    }
    device float * o = out + (ulong)i * args.ncols + e0;
    for (uint j = 0; j < n; j++) {
        o[j] = v[j];
    }
}

kernel void get_rows_f32(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TF32>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_f16(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TF16>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_bf16(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TBF16>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q4_0(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ4_0>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q4_1(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ4_1>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q5_0(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ5_0>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q5_1(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ5_1>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q8_0(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ8_0>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q2_K(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ2_K>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q3_K(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ3_K>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q4_K(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ4_K>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q5_K(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ5_K>(args, table, ids, out, tgpig, tpitg);
}

kernel void get_rows_q6_K(
        constant GetRowsArgs & args [[buffer(0)]], device const uchar * table [[buffer(1)]],
        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    get_rows_impl<TQ6_K>(args, table, ids, out, tgpig, tpitg);
}
