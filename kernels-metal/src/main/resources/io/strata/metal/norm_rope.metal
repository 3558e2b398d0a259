// RMS norm and rotary position embeddings.
#include <metal_stdlib>
using namespace metal;

// out[i][:] = x[i][:] / sqrt(mean(x[i]^2) + eps) * w; out may be x. Grid (nrows, 1, 1); any multiple of 32
// threads up to 1024 per threadgroup (one row each): per-thread partial sums, simd_sum, then the SIMD-group
// sums meet in threadgroup memory (32 floats) and every SIMD-group reduces them again.
kernel void rms_norm_f32(
        constant NormArgs & args [[buffer(0)]], device const float * x [[buffer(1)]],
        device const float * w [[buffer(2)]], device float * out [[buffer(3)]],
        threadgroup float * partial [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    device const float * xr = x + (ulong)tgpig.x * args.ncols;
    device float * o = out + (ulong)tgpig.x * args.ncols;
    float s = 0.0f;
    for (uint j = tpitg; j < args.ncols; j += ntg) {
        float v = xr[j];
        s += v * v;
    }
    s = simd_sum(s);
    if (tiisg == 0) {
        partial[sgitg] = s;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    float t = tiisg < nsg ? partial[tiisg] : 0.0f;
    t = simd_sum(t);
    float scale = 1.0f / precise::sqrt(t / float(args.ncols) + args.eps);
    for (uint j = tpitg; j < args.ncols; j += ntg) {
        o[j] = xr[j] * scale * w[j];
    }
}

// Rotates pair j of every head of row i by theta = pos[i] * inv_freq[j] (inv_freq = base^(-2j/dims), divided
// by the llama3 frequency factors, computed on the host). Grid (heads, nrows, 1), threads loop over pairs.
// "Normal" (llama) mode pairs (x[2j], x[2j+1]); NeoX (qwen2) mode pairs (x[j], x[j + pairs]).
kernel void rope_norm_f32(
        constant RopeArgs & args [[buffer(0)]], device float * x [[buffer(1)]],
        device const int * pos [[buffer(2)]], device const float * inv_freq [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]]) {
    device float * xh = x + (ulong)tgpig.y * args.row_stride + tgpig.x * args.head_dim;
    float p = float(pos[tgpig.y]);
    for (uint j = tpitg; j < args.pairs; j += ntg) {
        float c;
        float s = precise::sincos(p * inv_freq[j], c);
        float a = xh[2 * j], b = xh[2 * j + 1];
        xh[2 * j] = a * c - b * s;
        xh[2 * j + 1] = a * s + b * c;
    }
}

kernel void rope_neox_f32(
        constant RopeArgs & args [[buffer(0)]], device float * x [[buffer(1)]],
        device const int * pos [[buffer(2)]], device const float * inv_freq [[buffer(3)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]]) {
    device float * xh = x + (ulong)tgpig.y * args.row_stride + tgpig.x * args.head_dim;
    float p = float(pos[tgpig.y]);
    for (uint j = tpitg; j < args.pairs; j += ntg) {
        float c;
        float s = precise::sincos(p * inv_freq[j], c);
        float a = xh[j], b = xh[j + args.pairs];
        xh[j] = a * c - b * s;
        xh[j + args.pairs] = a * s + b * c;
    }
}
