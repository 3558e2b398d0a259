// Matrix-vector products (decode, and small batches): out[i][r] = sum_c w[r][c] * x[i][c].
//
// Grid (ceil(nrows / (MV_NSG * MV_NR)), nin, 1), threadgroups of 32 * MV_NSG threads. Each SIMD-group owns
// MV_NR consecutive weight rows of one input row; lane l takes elements [8l, 8l + 8) of every 256-element
// stretch of the row, loads those activations once into registers and dots them with all MV_NR rows, so the
// weights stream through once while the activations come from cache. One simd_sum per row at the end, no
// threadgroup memory. Rows past nrows are clamped for reading (collectives stay uniform) and not written.
#include <metal_stdlib>
using namespace metal;

#define MV_NSG 2
#define MV_NR 4

template <typename T>
inline void mul_mv_impl(constant MatArgs & args, device const uchar * w, device const float * x, device float * out,
                        uint3 tgpig, ushort sgitg, ushort tiisg) {
    uint first = (tgpig.x * MV_NSG + sgitg) * MV_NR;
    uint i = tgpig.y;
    device const float * xi = x + (ulong)i * args.x_stride;
    device const uchar * rows[MV_NR];
    float sum[MV_NR];
    for (uint r = 0; r < MV_NR; r++) {
        rows[r] = w + (ulong)min(first + r, args.nrows - 1) * args.row_bytes;
        sum[r] = 0.0f;
    }
    for (uint e0 = tiisg * 8u; e0 < args.ncols; e0 += 256u) {
        float y[8];
        load_x8<T>(xi, e0, args.ncols, y);
        if (e0 + 8u <= args.ncols) {
            for (uint r = 0; r < MV_NR; r++) {
                sum[r] += T::dot8(rows[r], e0, y);
            }
        } else {
            for (uint r = 0; r < MV_NR; r++) {
                float wv[8];
                T::tail(rows[r], e0, args.ncols - e0, wv);
                for (uint j = 0; j < 8; j++) {
                    sum[r] += wv[j] * y[j];
                }
            }
        }
    }
    for (uint r = 0; r < MV_NR; r++) {
        float s = simd_sum(sum[r]);
        if (tiisg == 0 && first + r < args.nrows) {
            out[(ulong)i * args.out_stride + first + r] = s;
        }
    }
}

kernel void mul_mv_f32_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TF32>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_f16_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TF16>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_bf16_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TBF16>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q4_0_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ4_0>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q4_1_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ4_1>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q5_0_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ5_0>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q5_1_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ5_1>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q8_0_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ8_0>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q2_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ2_K>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q3_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ3_K>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q4_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ4_K>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q5_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ5_K>(args, w, x, out, tgpig, sgitg, tiisg);
}

kernel void mul_mv_q6_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    mul_mv_impl<TQ6_K>(args, w, x, out, tgpig, sgitg, tiisg);
}
