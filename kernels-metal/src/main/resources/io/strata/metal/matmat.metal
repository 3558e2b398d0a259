// Matrix-matrix products (prefill chunks and larger batches): out[i][r] = sum_c w[r][c] * x[i][c].
//
// Grid (ceil(nrows / MM_BM), ceil(nin / MM_BN), 1), threadgroups of 128 threads (4 SIMD-groups). Per step of
// MM_BK columns, every thread dequantizes 16 weights and loads 8 activations into threadgroup tiles
// (sa: [MM_BM][MM_BK], sb: [MM_BN][MM_BK], f32), then each SIMD-group multiplies a 32 x 16 block of the output
// tile with 8 x 8 SIMD-group matrices (4 x 2 accumulators). The output tile is staged transposed through sa
// so the final stores are contiguous. Rows and input rows past the ends are clamped for reading and skipped
// when writing; columns past ncols (only F32/F16/BF16 rows can be ragged) read as zero.
// Needs SIMD-group matrices (Apple7 and later); Kernels.java falls back to mul_mv_* elsewhere.
#include <metal_stdlib>
using namespace metal;

#define MM_BM 64
#define MM_BN 32
#define MM_BK 32

// w[e0 .. e0 + 8) of a row, zeros past ncols.
template <typename T>
inline void load_w8(device const uchar * row, uint e0, uint ncols, thread float * out) {
    if (e0 + 8u <= ncols) {
        T::dequant8(row, e0, out);
    } else if (e0 < ncols) {
        T::tail(row, e0, ncols - e0, out);
    } else {
        for (uint j = 0; j < 8; j++) {
            out[j] = 0.0f;
        }
    }
}

template <typename T>
inline void mul_mm_impl(constant MatArgs & args, device const uchar * w, device const float * x, device float * out,
                        threadgroup float * sa, threadgroup float * sb, uint3 tgpig, ushort tpitg, ushort sgitg) {
    uint row0 = tgpig.x * MM_BM;
    uint col0 = tgpig.y * MM_BN;
    // loaders: thread t fills sa row t / 2 at column 16 * (t % 2), and sb row t / 4 at column 8 * (t % 4)
    uint ar = tpitg / 2, ak = 16u * (tpitg % 2);
    uint br = tpitg / 4, bk = 8u * (tpitg % 4);
    device const uchar * arow = w + (ulong)min(row0 + ar, args.nrows - 1) * args.row_bytes;
    device const float * brow = x + (ulong)min(col0 + br, args.nin - 1) * args.x_stride;
    // this SIMD-group's block of the output tile: weight rows sr .. sr + 32, input rows sc .. sc + 16
    uint sr = (sgitg / 2) * 32u, sc = (sgitg % 2) * 16u;

    simdgroup_float8x8 acc[4][2];
    for (uint m = 0; m < 4; m++) {
        for (uint c = 0; c < 2; c++) {
            acc[m][c] = make_filled_simdgroup_matrix<float, 8>(0.0f);
        }
    }
    for (uint k0 = 0; k0 < args.ncols; k0 += MM_BK) {
        float a[16];
        load_w8<T>(arow, k0 + ak, args.ncols, a);
        load_w8<T>(arow, k0 + ak + 8u, args.ncols, a + 8);
        threadgroup float * da = sa + ar * MM_BK + ak;
        for (uint j = 0; j < 16; j++) {
            da[j] = a[j];
        }
        float b[8];
        load_x8<T>(brow, k0 + bk, args.ncols, b);
        threadgroup float * db = sb + br * MM_BK + bk;
        for (uint j = 0; j < 8; j++) {
            db[j] = b[j];
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint kk = 0; kk < MM_BK; kk += 8) {
            simdgroup_float8x8 ma[4];
            simdgroup_float8x8 mb[2];
            for (uint m = 0; m < 4; m++) {
                simdgroup_load(ma[m], sa + (sr + 8u * m) * MM_BK + kk, MM_BK);
            }
            for (uint c = 0; c < 2; c++) {
                simdgroup_load(mb[c], sb + (sc + 8u * c) * MM_BK + kk, MM_BK, ulong2(0, 0), true);
            }
            for (uint m = 0; m < 4; m++) {
                for (uint c = 0; c < 2; c++) {
                    simdgroup_multiply_accumulate(acc[m][c], ma[m], mb[c], acc[m][c]);
                }
            }
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    // stage [input row][weight row] (MM_BN x MM_BM floats, the size of sa), then write contiguous runs of out
    for (uint m = 0; m < 4; m++) {
        for (uint c = 0; c < 2; c++) {
            simdgroup_store(acc[m][c], sa + (sc + 8u * c) * MM_BM + sr + 8u * m, MM_BM, ulong2(0, 0), true);
        }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint idx = tpitg; idx < MM_BM * MM_BN; idx += 128u) {
        uint cc = idx / MM_BM, rr = idx % MM_BM;
        if (row0 + rr < args.nrows && col0 + cc < args.nin) {
            out[(ulong)(col0 + cc) * args.out_stride + row0 + rr] = sa[idx];
        }
    }
}

kernel void mul_mm_f32_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TF32>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_f16_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TF16>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_bf16_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TBF16>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q4_0_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ4_0>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q4_1_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ4_1>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q5_0_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ5_0>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q5_1_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ5_1>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q8_0_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ8_0>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q2_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ2_K>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q3_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ3_K>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q4_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ4_K>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q5_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ5_K>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}

kernel void mul_mm_q6_K_f32(
        constant MatArgs & args [[buffer(0)]], device const uchar * w [[buffer(1)]],
        device const float * x [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * sa [[threadgroup(0)]], threadgroup float * sb [[threadgroup(1)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    mul_mm_impl<TQ6_K>(args, w, x, out, sa, sb, tgpig, tpitg, sgitg);
}
