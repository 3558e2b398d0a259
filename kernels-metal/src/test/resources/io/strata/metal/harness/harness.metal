// Kernels that test the CPU shim itself (HarnessTest): correct ones whose results are known, and ones with
// planted bugs that the shim must catch. Not part of the product library.
#include <metal_stdlib>
using namespace metal;

struct RowArgs {
    uint ncols;
    uint nrows;
};

// out[r] = sum of row r, with 2 SIMD-groups: simd_sum, then threadgroup memory and a barrier.
kernel void row_sum(
        constant RowArgs & args [[buffer(0)]],
        device const float * x [[buffer(1)]],
        device float * out [[buffer(2)]],
        threadgroup float * partial [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]],
        ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    device const float * row = x + (ulong)tgpig.x * args.ncols;
    float s = 0.0f;
    for (uint i = tpitg; i < args.ncols; i += 64) {
        s += row[i];
    }
    s = simd_sum(s);
    if (tiisg == 0) {
        partial[sgitg] = s;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (tpitg == 0) {
        out[tgpig.x] = partial[0] + partial[1];
    }
}

// Planted bug: the barrier between writing and reading the partial sums is missing.
kernel void row_sum_missing_barrier(
        constant RowArgs & args [[buffer(0)]],
        device const float * x [[buffer(1)]],
        device float * out [[buffer(2)]],
        threadgroup float * partial [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]],
        ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    device const float * row = x + (ulong)tgpig.x * args.ncols;
    float s = 0.0f;
    for (uint i = tpitg; i < args.ncols; i += 64) {
        s += row[i];
    }
    s = simd_sum(s);
    if (tiisg == 0) {
        partial[sgitg] = s;
    }
    if (tpitg == 0) {
        out[tgpig.x] = partial[0] + partial[1];
    }
}

// Planted bug: a wrong index (the loop starts at the thread index + 1 and skips element 0 of each row).
kernel void row_sum_wrong_index(
        constant RowArgs & args [[buffer(0)]],
        device const float * x [[buffer(1)]],
        device float * out [[buffer(2)]],
        threadgroup float * partial [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]],
        ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    device const float * row = x + (ulong)tgpig.x * args.ncols;
    float s = 0.0f;
    for (uint i = tpitg + 1; i < args.ncols; i += 64) {
        s += row[i];
    }
    s = simd_sum(s);
    if (tiisg == 0) {
        partial[sgitg] = s;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (tpitg == 0) {
        out[tgpig.x] = partial[0] + partial[1];
    }
}

// Planted bug: writes one row past the end of the output (out-of-bounds index).
kernel void row_sum_write_past_end(
        constant RowArgs & args [[buffer(0)]],
        device const float * x [[buffer(1)]],
        device float * out [[buffer(2)]],
        uint3 tgpig [[threadgroup_position_in_grid]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    device const float * row = x + (ulong)tgpig.x * args.ncols;
    float s = 0.0f;
    for (uint i = tiisg; i < args.ncols; i += 32) {
        s += row[i];
    }
    s = simd_sum(s);
    if (tiisg == 0) {
        out[tgpig.x + 1] = s;
    }
}

// Planted bug: lanes exchange values through threadgroup memory without simdgroup_barrier.
kernel void reverse_lanes_missing_simdgroup_barrier(
        device const float * x [[buffer(0)]],
        device float * out [[buffer(1)]],
        threadgroup float * tmp [[threadgroup(0)]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    tmp[tiisg] = x[tiisg];
    out[tiisg] = tmp[31 - tiisg];
}

kernel void reverse_lanes(
        device const float * x [[buffer(0)]],
        device float * out [[buffer(1)]],
        threadgroup float * tmp [[threadgroup(0)]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    tmp[tiisg] = x[tiisg];
    simdgroup_barrier(mem_flags::mem_threadgroup);
    out[tiisg] = tmp[31 - tiisg];
}

// Planted bug: simd_sum called from two different branches (divergent collective).
kernel void divergent_simd_sum(
        device const float * x [[buffer(0)]],
        device float * out [[buffer(1)]],
        ushort tiisg [[thread_index_in_simdgroup]]) {
    float s;
    if (tiisg < 16) {
        s = simd_sum(x[tiisg]);
    } else {
        s = simd_sum(2.0f * x[tiisg]);
    }
    out[tiisg] = s;
}

// Planted bug: some threads return before a barrier the others wait at.
kernel void barrier_after_return(
        device const float * x [[buffer(0)]],
        device float * out [[buffer(1)]],
        threadgroup float * tmp [[threadgroup(0)]],
        ushort tpitg [[thread_index_in_threadgroup]]) {
    if (tpitg >= 48) {
        return;
    }
    tmp[tpitg] = x[tpitg];
    threadgroup_barrier(mem_flags::mem_threadgroup);
    out[tpitg] = tmp[47 - tpitg];
}

// Every collective the kernels may use, with known results (HarnessTest computes them in Java).
// out layout per lane l (stride 12): sum, max, min, prefix_excl, prefix_incl, shuffle(31-l), shuffle_down(3),
// shuffle_up(5), shuffle_xor(1), broadcast(7), broadcast_first, all(x>0)+2*any(x>30).
kernel void collectives(
        device const float * x [[buffer(0)]],
        device float * out [[buffer(1)]],
        ushort tiisg [[thread_index_in_simdgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    uint g = sgitg * 32 + tiisg;
    float v = x[g];
    device float * o = out + g * 12;
    o[0] = simd_sum(v);
    o[1] = simd_max(v);
    o[2] = simd_min(v);
    o[3] = simd_prefix_exclusive_sum(v);
    o[4] = simd_prefix_inclusive_sum(v);
    o[5] = simd_shuffle(v, 31 - tiisg);
    o[6] = simd_shuffle_down(v, 3);
    o[7] = simd_shuffle_up(v, 5);
    o[8] = simd_shuffle_xor(v, 1);
    o[9] = simd_broadcast(v, 7);
    o[10] = simd_broadcast_first(v);
    o[11] = (simd_all(v > 0.0f) ? 1.0f : 0.0f) + (simd_any(v > 30.0f) ? 2.0f : 0.0f);
}

// C (16x16) = A (16x8) * B (8x16) with SIMD-group matrices: 4 SIMD-groups, one 8x8 tile each, staged through
// threadgroup memory; B is stored transposed ([n][k]) and loaded with transpose.
kernel void matrix_8x8(
        device const float * a [[buffer(0)]],
        device const float * bt [[buffer(1)]],
        device float * c [[buffer(2)]],
        threadgroup float * sa [[threadgroup(0)]],
        threadgroup float * sb [[threadgroup(1)]],
        ushort tpitg [[thread_index_in_threadgroup]],
        ushort sgitg [[simdgroup_index_in_threadgroup]]) {
    for (uint i = tpitg; i < 128; i += 128) {
        sa[i] = a[i];
        sb[i] = bt[i];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    uint tr = sgitg / 2, tc = sgitg % 2;
    simdgroup_float8x8 ma;
    simdgroup_float8x8 mb;
    simdgroup_float8x8 acc = make_filled_simdgroup_matrix<float, 8>(0.0f);
    simdgroup_load(ma, sa + tr * 64, 8);
    simdgroup_load(mb, sb + tc * 64, 8, ulong2(0, 0), true);
    simdgroup_multiply_accumulate(acc, ma, mb, acc);
    simdgroup_store(acc, c + tr * 8 * 16 + tc * 8, 16);
}

// float -> half -> float conversions (the shim's __fp16 helpers against Java's Float.floatToFloat16).
kernel void half_roundtrip(
        device const float * x [[buffer(0)]],
        device half * h [[buffer(1)]],
        device float * back [[buffer(2)]],
        uint gid [[thread_position_in_grid]]) {
    h[gid] = half(x[gid]);
    back[gid] = float(h[gid]);
}
