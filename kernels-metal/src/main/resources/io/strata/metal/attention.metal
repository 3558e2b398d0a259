// Attention over the KV cache with an online softmax, grouped-query, f32 or f16 cache.
//
// Cache layout per layer: K [context][kv_dim] then V [context][kv_dim] (kv_dim = kv_heads * head_dim), bound
// at the layer's offsets. Query head h reads KV head h / (heads / kv_heads). Row i attends to positions
// 0 .. pos[i]; all rows of one dispatch belong to one sequence (one cache) and were stored by kv_store first.
// Kernels are instantiated per cache type and per head-size class ND = ceil(head_dim / 32) in {1, 2, 4, 8},
// so the per-lane arrays have constant sizes (lane l owns dimensions l, l + 32, ...).
#include <metal_stdlib>
using namespace metal;

#define ATT_MAX_HPT 4
// "minus infinity" for running maxima and masked scores: finite, because Metal compiles with fast math by
// default, which may assume there are no infinities; exp(ATT_NEG - finite) is still exactly 0.
#define ATT_NEG (-FLT_MAX / 2)

// kc[pos[i]][d] = k[i][d], vc likewise. Grid (ceil(kv_dim / 256), n, 1) of 256 threads.
template <typename KV>
inline void kv_store_impl(constant KvStoreArgs & args, device const float * k, device const float * v,
                          device const int * pos, device KV * kc, device KV * vc, uint3 tgpig, ushort tpitg) {
    uint i = tgpig.y;
    uint d = tgpig.x * 256u + tpitg;
    if (d >= args.kv_dim) {
        return;
    }
    ulong at = (ulong)pos[i] * args.kv_dim + d;
    ulong src = (ulong)i * args.kv_dim + d;
    kc[at] = KV(k[src]);
    vc[at] = KV(v[src]);
}

kernel void kv_store_f32(
        constant KvStoreArgs & args [[buffer(0)]], device const float * k [[buffer(1)]], device const float * v [[buffer(2)]],
        device const int * pos [[buffer(3)]], device float * kc [[buffer(4)]], device float * vc [[buffer(5)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    kv_store_impl<float>(args, k, v, pos, kc, vc, tgpig, tpitg);
}

kernel void kv_store_f16(
        constant KvStoreArgs & args [[buffer(0)]], device const float * k [[buffer(1)]], device const float * v [[buffer(2)]],
        device const int * pos [[buffer(3)]], device half * kc [[buffer(4)]], device half * vc [[buffer(5)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]]) {
    kv_store_impl<half>(args, k, v, pos, kc, vc, tgpig, tpitg);
}

// Decode: one query row per grid row, heads_per_tg query heads (sharing one KV head) per threadgroup.
// Grid (heads / heads_per_tg, n, 1); nsg SIMD-groups split the keys (SIMD-group g takes t = g, g + nsg, ...);
// per key each lane dots its dimensions, simd_sum gives the score, and every lane updates the running max m,
// sum l and output o of its dimensions. The SIMD-groups' (m, l, o) then meet in threadgroup memory
// (nsg * heads_per_tg * (head_dim + 2) floats) and are merged with the usual rescaling.
template <typename KV, uint ND>
inline void attn_vec_impl(constant AttnArgs & args, device const float * q, device const KV * kc, device const KV * vc,
                          device const int * pos, device float * out, threadgroup float * scratch,
                          uint3 tgpig, ushort tpitg, ushort ntg, ushort sgitg, ushort tiisg, ushort nsg) {
    uint i = tgpig.y;
    uint hpt = args.heads_per_tg;
    uint h0 = tgpig.x * hpt;
    uint D = args.head_dim;
    uint kvh = h0 / (args.heads / args.kv_heads);
    uint len = uint(pos[i]) + 1u;
    float qv[ATT_MAX_HPT][ND];
    float o[ATT_MAX_HPT][ND];
    float m[ATT_MAX_HPT];
    float l[ATT_MAX_HPT];
    device const float * qi = q + (ulong)i * args.q_stride;
    for (uint h = 0; h < ATT_MAX_HPT; h++) {
        m[h] = ATT_NEG;
        l[h] = 0.0f;
        for (uint jj = 0; jj < ND; jj++) {
            uint d = tiisg + 32u * jj;
            o[h][jj] = 0.0f;
            qv[h][jj] = h < hpt && d < D ? qi[(h0 + h) * D + d] : 0.0f;
        }
    }
    device const KV * kb = kc + kvh * D;
    device const KV * vb = vc + kvh * D;
    for (uint t = sgitg; t < len; t += nsg) {
        float kv[ND];
        float vv[ND];
        for (uint jj = 0; jj < ND; jj++) {
            uint d = tiisg + 32u * jj;
            kv[jj] = d < D ? float(kb[(ulong)t * args.kv_dim + d]) : 0.0f;
            vv[jj] = d < D ? float(vb[(ulong)t * args.kv_dim + d]) : 0.0f;
        }
        for (uint h = 0; h < ATT_MAX_HPT; h++) {
            if (h < hpt) {
                float s = 0.0f;
                for (uint jj = 0; jj < ND; jj++) {
                    s += qv[h][jj] * kv[jj];
                }
                s = simd_sum(s) * args.scale;
                float mn = max(m[h], s);
                float c = exp(m[h] - mn);
                float p = exp(s - mn);
                l[h] = l[h] * c + p;
                for (uint jj = 0; jj < ND; jj++) {
                    o[h][jj] = o[h][jj] * c + p * vv[jj];
                }
                m[h] = mn;
            }
        }
    }
    // merge the SIMD-groups: scratch[g] = { o[hpt][D], m[hpt], l[hpt] }
    uint stride = hpt * (D + 2u);
    threadgroup float * mine = scratch + sgitg * stride;
    for (uint h = 0; h < ATT_MAX_HPT; h++) {
        for (uint jj = 0; jj < ND; jj++) {
            uint d = tiisg + 32u * jj;
            if (h < hpt && d < D) {
                mine[h * D + d] = o[h][jj];
            }
        }
        if (h < hpt && tiisg == 0) {
            mine[hpt * D + h] = m[h];
            mine[hpt * D + hpt + h] = l[h];
        }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint idx = tpitg; idx < hpt * D; idx += ntg) {
        uint h = idx / D, d = idx % D;
        float mx = ATT_NEG;
        for (uint g = 0; g < nsg; g++) {
            mx = max(mx, scratch[g * stride + hpt * D + h]);
        }
        float sum = 0.0f, acc = 0.0f;
        for (uint g = 0; g < nsg; g++) {
            float f = exp(scratch[g * stride + hpt * D + h] - mx);
            sum += scratch[g * stride + hpt * D + hpt + h] * f;
            acc += scratch[g * stride + h * D + d] * f;
        }
        out[(ulong)i * args.q_stride + (h0 + h) * D + d] = acc / sum;
    }
}

// Prefill: nsg query rows (one per SIMD-group) of one head per threadgroup; grid (heads, ceil(n / nsg), 1).
// Keys are processed in tiles of keys_per_tile (KT): the threadgroup loads the K tile into threadgroup memory
// (rows padded to head_dim + 1 floats against bank conflicts), lane j of each SIMD-group scores key j against
// its row's query (kept in threadgroup memory), simd_max/simd_sum update the online softmax, the
// probabilities go to threadgroup memory, then the V tile replaces the K tile and each lane accumulates its
// output dimensions. Keys past a row's position are masked; tiles run to the largest position of the block.
// Threadgroup memory: qs nsg * head_dim, kvs KT * (head_dim + 1), ps nsg * 32 floats.
template <typename KV, uint ND>
inline void attn_tile_impl(constant AttnArgs & args, device const float * q, device const KV * kc, device const KV * vc,
                           device const int * pos, device float * out, threadgroup float * qs, threadgroup float * kvs,
                           threadgroup float * ps, uint3 tgpig, ushort tpitg, ushort ntg, ushort sgitg, ushort tiisg,
                           ushort nsg) {
    uint h = tgpig.x;
    uint blk = tgpig.y * nsg;
    uint D = args.head_dim, KT = args.keys_per_tile, KS = D + 1u;
    uint kvh = h / (args.heads / args.kv_heads);
    uint last = args.n - 1u;
    uint mypos = uint(pos[min(blk + sgitg, last)]);
    uint maxpos = 0;
    for (uint g = 0; g < nsg; g++) {
        maxpos = max(maxpos, uint(pos[min(blk + g, last)]));
    }
    for (uint idx = tpitg; idx < nsg * D; idx += ntg) {
        uint g = idx / D, d = idx % D;
        qs[idx] = q[(ulong)min(blk + g, last) * args.q_stride + h * D + d];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    threadgroup const float * qrow = qs + sgitg * D;
    device const KV * kb = kc + kvh * D;
    device const KV * vb = vc + kvh * D;
    float m = ATT_NEG, l = 0.0f;
    float o[ND];
    for (uint jj = 0; jj < ND; jj++) {
        o[jj] = 0.0f;
    }
    for (uint t0 = 0; t0 <= maxpos; t0 += KT) {
        for (uint idx = tpitg; idx < KT * D; idx += ntg) {
            uint j = idx / D, d = idx % D;
            kvs[j * KS + d] = float(kb[(ulong)min(t0 + j, maxpos) * args.kv_dim + d]);
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        bool valid = tiisg < KT && t0 + tiisg <= mypos;
        float s = ATT_NEG;
        if (valid) {
            float acc = 0.0f;
            for (uint d = 0; d < D; d++) {
                acc += qrow[d] * kvs[tiisg * KS + d];
            }
            s = acc * args.scale;
        }
        float mn = max(m, simd_max(s));
        float c = exp(m - mn);
        float p = valid ? exp(s - mn) : 0.0f;
        l = l * c + simd_sum(p);
        if (tiisg < KT) {
            ps[sgitg * 32u + tiisg] = p;
        }
        for (uint jj = 0; jj < ND; jj++) {
            o[jj] *= c;
        }
        m = mn;
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint idx = tpitg; idx < KT * D; idx += ntg) {
            uint j = idx / D, d = idx % D;
            kvs[j * KS + d] = float(vb[(ulong)min(t0 + j, maxpos) * args.kv_dim + d]);
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint j = 0; j < KT; j++) {
            float pj = ps[sgitg * 32u + j];
            for (uint jj = 0; jj < ND; jj++) {
                uint d = tiisg + 32u * jj;
                if (d < D) {
                    o[jj] += pj * kvs[j * KS + d];
                }
            }
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    if (blk + sgitg < args.n) {
        for (uint jj = 0; jj < ND; jj++) {
            uint d = tiisg + 32u * jj;
            if (d < D) {
                out[(ulong)(blk + sgitg) * args.q_stride + h * D + d] = o[jj] / l;
            }
        }
    }
}

kernel void attn_vec_f32_kv_f32_d32(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const float * kc [[buffer(2)]],
        device const float * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * scratch [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_vec_impl<float, 1>(args, q, kc, vc, pos, out, scratch, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_tile_f32_kv_f32_d32(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const float * kc [[buffer(2)]],
        device const float * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * qs [[threadgroup(0)]], threadgroup float * kvs [[threadgroup(1)]],
        threadgroup float * ps [[threadgroup(2)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_tile_impl<float, 1>(args, q, kc, vc, pos, out, qs, kvs, ps, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_vec_f32_kv_f32_d64(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const float * kc [[buffer(2)]],
        device const float * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * scratch [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_vec_impl<float, 2>(args, q, kc, vc, pos, out, scratch, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_tile_f32_kv_f32_d64(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const float * kc [[buffer(2)]],
        device const float * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * qs [[threadgroup(0)]], threadgroup float * kvs [[threadgroup(1)]],
        threadgroup float * ps [[threadgroup(2)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_tile_impl<float, 2>(args, q, kc, vc, pos, out, qs, kvs, ps, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_vec_f32_kv_f32_d128(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const float * kc [[buffer(2)]],
        device const float * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * scratch [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_vec_impl<float, 4>(args, q, kc, vc, pos, out, scratch, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_tile_f32_kv_f32_d128(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const float * kc [[buffer(2)]],
        device const float * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * qs [[threadgroup(0)]], threadgroup float * kvs [[threadgroup(1)]],
        threadgroup float * ps [[threadgroup(2)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_tile_impl<float, 4>(args, q, kc, vc, pos, out, qs, kvs, ps, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_vec_f32_kv_f32_d256(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const float * kc [[buffer(2)]],
        device const float * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * scratch [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_vec_impl<float, 8>(args, q, kc, vc, pos, out, scratch, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_tile_f32_kv_f32_d256(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const float * kc [[buffer(2)]],
        device const float * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * qs [[threadgroup(0)]], threadgroup float * kvs [[threadgroup(1)]],
        threadgroup float * ps [[threadgroup(2)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_tile_impl<float, 8>(args, q, kc, vc, pos, out, qs, kvs, ps, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_vec_f32_kv_f16_d32(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const half * kc [[buffer(2)]],
        device const half * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * scratch [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_vec_impl<half, 1>(args, q, kc, vc, pos, out, scratch, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_tile_f32_kv_f16_d32(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const half * kc [[buffer(2)]],
        device const half * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * qs [[threadgroup(0)]], threadgroup float * kvs [[threadgroup(1)]],
        threadgroup float * ps [[threadgroup(2)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_tile_impl<half, 1>(args, q, kc, vc, pos, out, qs, kvs, ps, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_vec_f32_kv_f16_d64(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const half * kc [[buffer(2)]],
        device const half * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * scratch [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_vec_impl<half, 2>(args, q, kc, vc, pos, out, scratch, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_tile_f32_kv_f16_d64(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const half * kc [[buffer(2)]],
        device const half * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * qs [[threadgroup(0)]], threadgroup float * kvs [[threadgroup(1)]],
        threadgroup float * ps [[threadgroup(2)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_tile_impl<half, 2>(args, q, kc, vc, pos, out, qs, kvs, ps, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_vec_f32_kv_f16_d128(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const half * kc [[buffer(2)]],
        device const half * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * scratch [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_vec_impl<half, 4>(args, q, kc, vc, pos, out, scratch, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_tile_f32_kv_f16_d128(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const half * kc [[buffer(2)]],
        device const half * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * qs [[threadgroup(0)]], threadgroup float * kvs [[threadgroup(1)]],
        threadgroup float * ps [[threadgroup(2)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_tile_impl<half, 4>(args, q, kc, vc, pos, out, qs, kvs, ps, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_vec_f32_kv_f16_d256(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const half * kc [[buffer(2)]],
        device const half * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * scratch [[threadgroup(0)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_vec_impl<half, 8>(args, q, kc, vc, pos, out, scratch, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}

kernel void attn_tile_f32_kv_f16_d256(
        constant AttnArgs & args [[buffer(0)]], device const float * q [[buffer(1)]], device const half * kc [[buffer(2)]],
        device const half * vc [[buffer(3)]], device const int * pos [[buffer(4)]], device float * out [[buffer(5)]],
        threadgroup float * qs [[threadgroup(0)]], threadgroup float * kvs [[threadgroup(1)]],
        threadgroup float * ps [[threadgroup(2)]],
        uint3 tgpig [[threadgroup_position_in_grid]], ushort tpitg [[thread_index_in_threadgroup]],
        ushort ntg [[threads_per_threadgroup]], ushort sgitg [[simdgroup_index_in_threadgroup]],
        ushort tiisg [[thread_index_in_simdgroup]], ushort nsg [[simdgroups_per_threadgroup]]) {
    attn_tile_impl<half, 8>(args, q, kc, vc, pos, out, qs, kvs, ps, tgpig, tpitg, ntg, sgitg, tiisg, nsg);
}
