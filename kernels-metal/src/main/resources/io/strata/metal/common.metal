// Strata Metal kernels: shared types, argument structs and dequantization.
//
// The kernel files are compiled as one library, in the order of io.strata.metal.KernelSource.FILES, by
// Metal (newLibraryWithSource) and, in the Linux tests, as C++ against the CPU shim. Style rules that keep
// both working (kernels-metal/README.md): threadgroup memory only as [[threadgroup(n)]] parameters; half
// and bfloat only as storage (convert with float(...)); no member functions; collectives and barriers in
// uniform control flow; every argument struct made of 4-byte fields (mirrored in io.strata.metal.Kernels).
#include <metal_stdlib>
using namespace metal;

// ---- argument structs (one per kernel family; field order and size mirrored by Kernels.java) --------------

// Matrix products: out[i][r] = sum_c w[r][c] * x[i][c] for i < nin, r < nrows.
struct MatArgs {
    uint ncols;       // K: elements per weight row (and per input row)
    uint nrows;       // N: weight rows (outputs per input row)
    uint nin;         // input rows
    uint row_bytes;   // bytes of one weight row
    uint x_stride;    // floats between input rows
    uint out_stride;  // floats between output rows
};

// Row gather: out[i][:] = dequant(table[ids[i]]) for i < n.
struct GetRowsArgs {
    uint ncols;       // elements per row
    uint row_bytes;   // bytes of one table row
    uint n;           // rows to gather
    uint nrows;       // rows in the table (ids are checked on the host)
};

struct NormArgs {
    uint ncols;       // elements per row
    uint nrows;
    float eps;
};

struct RopeArgs {
    uint nrows;
    uint heads;
    uint head_dim;
    uint pairs;       // rotated pairs per head (rope dims / 2)
    uint row_stride;  // floats per row (heads * head_dim)
};

struct KvStoreArgs {
    uint kv_dim;      // floats per position
    uint n;           // rows to store
};

struct AttnArgs {
    uint n;               // query rows in this dispatch (all of one sequence)
    uint heads;
    uint kv_heads;
    uint head_dim;
    uint q_stride;        // floats per query / output row
    uint kv_dim;          // floats per cached position (kv_heads * head_dim)
    float scale;          // 1 / sqrt(head_dim)
    uint heads_per_tg;    // vector kernel: query heads of one KV head per threadgroup (1, 2 or 4)
    uint keys_per_tile;   // tile kernel: keys per tile (32, or 16 when head_dim > 128)
};

struct EltArgs {
    uint count;       // elements (add, silu_mul, copy) or columns (add_bias, copy_rows)
    uint nrows;       // rows (add_bias, copy_rows)
    uint src_stride;  // floats per source row (copy_rows)
    uint dst_stride;  // floats per destination row (copy_rows)
};

// ---- block layouts (ggml-common.h; sizes pinned by the static_asserts) ------------------------------------

struct block_q4_0 { half d; uchar qs[16]; };
struct block_q4_1 { half d; half m; uchar qs[16]; };
struct block_q5_0 { half d; uchar qh[4]; uchar qs[16]; };
struct block_q5_1 { half d; half m; uchar qh[4]; uchar qs[16]; };
struct block_q8_0 { half d; char qs[32]; };
struct block_q2_K { uchar scales[16]; uchar qs[64]; half d; half dmin; };
struct block_q3_K { uchar hmask[32]; uchar qs[64]; uchar scales[12]; half d; };
struct block_q4_K { half d; half dmin; uchar scales[12]; uchar qs[128]; };
struct block_q5_K { half d; half dmin; uchar scales[12]; uchar qh[32]; uchar qs[128]; };
struct block_q6_K { uchar ql[128]; uchar qh[64]; char scales[16]; half d; };

static_assert(sizeof(block_q4_0) == 18, "block_q4_0");
static_assert(sizeof(block_q4_1) == 20, "block_q4_1");
static_assert(sizeof(block_q5_0) == 22, "block_q5_0");
static_assert(sizeof(block_q5_1) == 24, "block_q5_1");
static_assert(sizeof(block_q8_0) == 34, "block_q8_0");
static_assert(sizeof(block_q2_K) == 84, "block_q2_K");
static_assert(sizeof(block_q3_K) == 110, "block_q3_K");
static_assert(sizeof(block_q4_K) == 144, "block_q4_K");
static_assert(sizeof(block_q5_K) == 176, "block_q5_K");
static_assert(sizeof(block_q6_K) == 210, "block_q6_K");

// ---- helpers -------------------------------------------------------------------------------------------------

inline float bf16_to_float(ushort bits) {
    return as_type<float>(uint(bits) << 16);
}

// Rounds to the nearest bfloat16 (ties to even) and back, as ggml's fp32 -> bf16 conversion does.
inline float round_to_bf16(float f) {
    uint u = as_type<uint>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return as_type<float>((u | 0x00400000u) & 0xffff0000u);  // quiet NaN
    }
    u = (u + (0x7fffu + ((u >> 16) & 1u))) & 0xffff0000u;
    return as_type<float>(u);
}

// 6-bit scale and min j (0..7) of a Q4_K / Q5_K block.
inline float2 scale_min_k4(uint j, device const uchar * q) {
    uint sc, m;
    if (j < 4) {
        sc = q[j] & 63u;
        m = q[j + 4] & 63u;
    } else {
        sc = (q[j + 4] & 0xFu) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
    return float2(float(sc), float(m));
}

// Signed 6-bit scale j (0..15) of a Q3_K block.
inline float scale_q3_K(uint j, device const uchar * s) {
    uint lo = j < 8 ? (s[j] & 0xFu) : (s[j - 8] >> 4);
    uint hi = (s[8 + (j & 3u)] >> (2u * (j >> 2))) & 3u;
    return float(int(lo | (hi << 4)) - 32);
}

// ---- per-type element access ------------------------------------------------------------------------------
// Every weight type provides, for a row starting at `row` (bytes) and an element index e0 that is a multiple
// of 8 (and, for the block types, e0 + 8 <= ncols):
//   dequant8(row, e0, out)  out[j] = w[e0 + j]                     (j < 8)
//   dot8(row, e0, y)        sum_j w[e0 + j] * y[j]                 (scales applied once)
//   tail(row, e0, n, out)   out[j] = w[e0 + j] for j < n < 8, 0 after (float types; only they have ragged rows)
//   is_bf16()               whether activations are rounded to bfloat16 first (as ggml's CPU path does)
// Eight consecutive elements always share one scale in every format, which is what lets one lane own them.

struct TF32 {
    static bool is_bf16() { return false; }
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const float * w = (device const float *)row + e0;
        for (uint j = 0; j < 8; j++) out[j] = w[j];
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const float * w = (device const float *)row + e0;
        float s = 0.0f;
        for (uint j = 0; j < 8; j++) s += w[j] * y[j];
        return s;
    }
    static void tail(device const uchar * row, uint e0, uint n, thread float * out) {
        device const float * w = (device const float *)row + e0;
        for (uint j = 0; j < 8; j++) out[j] = j < n ? w[j] : 0.0f;
    }
};

struct TF16 {
    static bool is_bf16() { return false; }
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const half * w = (device const half *)row + e0;
        for (uint j = 0; j < 8; j++) out[j] = float(w[j]);
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const half * w = (device const half *)row + e0;
        float s = 0.0f;
        for (uint j = 0; j < 8; j++) s += float(w[j]) * y[j];
        return s;
    }
    static void tail(device const uchar * row, uint e0, uint n, thread float * out) {
        device const half * w = (device const half *)row + e0;
        for (uint j = 0; j < 8; j++) out[j] = j < n ? float(w[j]) : 0.0f;
    }
};

struct TBF16 {
    static bool is_bf16() { return true; }
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const ushort * w = (device const ushort *)row + e0;
        for (uint j = 0; j < 8; j++) out[j] = bf16_to_float(w[j]);
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const ushort * w = (device const ushort *)row + e0;
        float s = 0.0f;
        for (uint j = 0; j < 8; j++) s += bf16_to_float(w[j]) * y[j];
        return s;
    }
    static void tail(device const uchar * row, uint e0, uint n, thread float * out) {
        device const ushort * w = (device const ushort *)row + e0;
        for (uint j = 0; j < 8; j++) out[j] = j < n ? bf16_to_float(w[j]) : 0.0f;
    }
};

// Block types: tail() is never reached (their rows are whole blocks) but keeps the templates uniform.
#define STRATA_BLOCK_TAIL                                                                      \
    static void tail(device const uchar * row, uint e0, uint n, thread float * out) {         \
        dequant8(row, e0, out);                                                                \
        for (uint j = n; j < 8; j++) out[j] = 0.0f;                                           \
    }

struct TQ4_0 {
    static bool is_bf16() { return false; }
    // x = d * (q - 8); element p < 16 is the low nibble of qs[p], element p >= 16 the high nibble of qs[p - 16]
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q4_0 * b = (device const block_q4_0 *)row + e0 / 32;
        uint p = e0 % 32;
        float d = float(b->d);
        device const uchar * q = b->qs + (p & 15u);
        uint shift = p < 16 ? 0u : 4u;
        for (uint j = 0; j < 8; j++) out[j] = d * (float((q[j] >> shift) & 0xFu) - 8.0f);
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q4_0 * b = (device const block_q4_0 *)row + e0 / 32;
        uint p = e0 % 32;
        device const uchar * q = b->qs + (p & 15u);
        uint shift = p < 16 ? 0u : 4u;
        float s = 0.0f;
        for (uint j = 0; j < 8; j++) s += (float((q[j] >> shift) & 0xFu) - 8.0f) * y[j];
        return float(b->d) * s;
    }
    STRATA_BLOCK_TAIL
};

struct TQ4_1 {
    static bool is_bf16() { return false; }
    // x = d * q + m
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q4_1 * b = (device const block_q4_1 *)row + e0 / 32;
        uint p = e0 % 32;
        float d = float(b->d), m = float(b->m);
        device const uchar * q = b->qs + (p & 15u);
        uint shift = p < 16 ? 0u : 4u;
        for (uint j = 0; j < 8; j++) out[j] = d * float((q[j] >> shift) & 0xFu) + m;
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q4_1 * b = (device const block_q4_1 *)row + e0 / 32;
        uint p = e0 % 32;
        device const uchar * q = b->qs + (p & 15u);
        uint shift = p < 16 ? 0u : 4u;
        float s = 0.0f, sy = 0.0f;
        for (uint j = 0; j < 8; j++) {
            s += float((q[j] >> shift) & 0xFu) * y[j];
            sy += y[j];
        }
        return float(b->d) * s + float(b->m) * sy;
    }
    STRATA_BLOCK_TAIL
};

// Bit p of the 32-bit high-bit field of a Q5_0 / Q5_1 block is the fifth bit of element p.
inline uint q5_high_bits(device const uchar * qh) {
    return uint(qh[0]) | (uint(qh[1]) << 8) | (uint(qh[2]) << 16) | (uint(qh[3]) << 24);
}

struct TQ5_0 {
    static bool is_bf16() { return false; }
    // x = d * (q - 16)
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q5_0 * b = (device const block_q5_0 *)row + e0 / 32;
        uint p = e0 % 32;
        float d = float(b->d);
        uint h = q5_high_bits(b->qh) >> p;
        device const uchar * q = b->qs + (p & 15u);
        uint shift = p < 16 ? 0u : 4u;
        for (uint j = 0; j < 8; j++) out[j] = d * (float(((q[j] >> shift) & 0xFu) | (((h >> j) & 1u) << 4)) - 16.0f);
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q5_0 * b = (device const block_q5_0 *)row + e0 / 32;
        uint p = e0 % 32;
        uint h = q5_high_bits(b->qh) >> p;
        device const uchar * q = b->qs + (p & 15u);
        uint shift = p < 16 ? 0u : 4u;
        float s = 0.0f;
        for (uint j = 0; j < 8; j++) s += (float(((q[j] >> shift) & 0xFu) | (((h >> j) & 1u) << 4)) - 16.0f) * y[j];
        return float(b->d) * s;
    }
    STRATA_BLOCK_TAIL
};

struct TQ5_1 {
    static bool is_bf16() { return false; }
    // x = d * q + m
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q5_1 * b = (device const block_q5_1 *)row + e0 / 32;
        uint p = e0 % 32;
        float d = float(b->d), m = float(b->m);
        uint h = q5_high_bits(b->qh) >> p;
        device const uchar * q = b->qs + (p & 15u);
        uint shift = p < 16 ? 0u : 4u;
        for (uint j = 0; j < 8; j++) out[j] = d * float(((q[j] >> shift) & 0xFu) | (((h >> j) & 1u) << 4)) + m;
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q5_1 * b = (device const block_q5_1 *)row + e0 / 32;
        uint p = e0 % 32;
        uint h = q5_high_bits(b->qh) >> p;
        device const uchar * q = b->qs + (p & 15u);
        uint shift = p < 16 ? 0u : 4u;
        float s = 0.0f, sy = 0.0f;
        for (uint j = 0; j < 8; j++) {
            s += float(((q[j] >> shift) & 0xFu) | (((h >> j) & 1u) << 4)) * y[j];
            sy += y[j];
        }
        return float(b->d) * s + float(b->m) * sy;
    }
    STRATA_BLOCK_TAIL
};

struct TQ8_0 {
    static bool is_bf16() { return false; }
    // x = d * q
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q8_0 * b = (device const block_q8_0 *)row + e0 / 32;
        device const char * q = b->qs + e0 % 32;
        float d = float(b->d);
        for (uint j = 0; j < 8; j++) out[j] = d * float(q[j]);
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q8_0 * b = (device const block_q8_0 *)row + e0 / 32;
        device const char * q = b->qs + e0 % 32;
        float s = 0.0f;
        for (uint j = 0; j < 8; j++) s += float(q[j]) * y[j];
        return float(b->d) * s;
    }
    STRATA_BLOCK_TAIL
};

// K-quants: 256 elements per block. For element e: h = e / 128 (half), j = (e % 128) / 32, l = e % 32.
struct TQ2_K {
    static bool is_bf16() { return false; }
    // x = d * (sc & 15) * q - dmin * (sc >> 4), q = (qs[32h + l] >> 2j) & 3, sc = scales[8h + 2j + l / 16]
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q2_K * b = (device const block_q2_K *)row + e0 / 256;
        uint e = e0 % 256, h = e / 128, j = (e % 128) / 32, l = e % 32;
        uint sc = b->scales[8 * h + 2 * j + l / 16];
        float dl = float(b->d) * float(sc & 0xFu), ml = float(b->dmin) * float(sc >> 4);
        device const uchar * q = b->qs + 32 * h + l;
        for (uint i = 0; i < 8; i++) out[i] = dl * float((q[i] >> (2 * j)) & 3u) - ml;
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q2_K * b = (device const block_q2_K *)row + e0 / 256;
        uint e = e0 % 256, h = e / 128, j = (e % 128) / 32, l = e % 32;
        uint sc = b->scales[8 * h + 2 * j + l / 16];
        device const uchar * q = b->qs + 32 * h + l;
        float s = 0.0f, sy = 0.0f;
        for (uint i = 0; i < 8; i++) {
            s += float((q[i] >> (2 * j)) & 3u) * y[i];
            sy += y[i];
        }
        return float(b->d) * float(sc & 0xFu) * s - float(b->dmin) * float(sc >> 4) * sy;
    }
    STRATA_BLOCK_TAIL
};

struct TQ3_K {
    static bool is_bf16() { return false; }
    // x = d * scale(8h + 2j + l / 16) * (((qs[32h + l] >> 2j) & 3) - (hmask[l] bit (4h + j) ? 0 : 4))
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q3_K * b = (device const block_q3_K *)row + e0 / 256;
        uint e = e0 % 256, h = e / 128, j = (e % 128) / 32, l = e % 32;
        float dl = float(b->d) * scale_q3_K(8 * h + 2 * j + l / 16, b->scales);
        device const uchar * q = b->qs + 32 * h + l;
        device const uchar * hm = b->hmask + l;
        uint bit = 4 * h + j;
        for (uint i = 0; i < 8; i++) {
            int v = int((q[i] >> (2 * j)) & 3u) - (((hm[i] >> bit) & 1u) ? 0 : 4);
            out[i] = dl * float(v);
        }
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q3_K * b = (device const block_q3_K *)row + e0 / 256;
        uint e = e0 % 256, h = e / 128, j = (e % 128) / 32, l = e % 32;
        device const uchar * q = b->qs + 32 * h + l;
        device const uchar * hm = b->hmask + l;
        uint bit = 4 * h + j;
        float s = 0.0f;
        for (uint i = 0; i < 8; i++) {
            int v = int((q[i] >> (2 * j)) & 3u) - (((hm[i] >> bit) & 1u) ? 0 : 4);
            s += float(v) * y[i];
        }
        return float(b->d) * scale_q3_K(8 * h + 2 * j + l / 16, b->scales) * s;
    }
    STRATA_BLOCK_TAIL
};

// Q4_K / Q5_K: element e: g = e / 64, r = e % 64; r < 32 low nibble of qs[32g + r], else high nibble of
// qs[32g + r - 32]; scale/min index 2g + (r >= 32); x = d * sc * q - dmin * m.
struct TQ4_K {
    static bool is_bf16() { return false; }
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q4_K * b = (device const block_q4_K *)row + e0 / 256;
        uint e = e0 % 256, g = e / 64, r = e % 64, hi = r / 32;
        float2 sm = scale_min_k4(2 * g + hi, b->scales);
        float dl = float(b->d) * sm.x, ml = float(b->dmin) * sm.y;
        device const uchar * q = b->qs + 32 * g + (r % 32);
        uint shift = 4 * hi;
        for (uint i = 0; i < 8; i++) out[i] = dl * float((q[i] >> shift) & 0xFu) - ml;
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q4_K * b = (device const block_q4_K *)row + e0 / 256;
        uint e = e0 % 256, g = e / 64, r = e % 64, hi = r / 32;
        float2 sm = scale_min_k4(2 * g + hi, b->scales);
        device const uchar * q = b->qs + 32 * g + (r % 32);
        uint shift = 4 * hi;
        float s = 0.0f, sy = 0.0f;
        for (uint i = 0; i < 8; i++) {
            s += float((q[i] >> shift) & 0xFu) * y[i];
            sy += y[i];
        }
        return float(b->d) * sm.x * s - float(b->dmin) * sm.y * sy;
    }
    STRATA_BLOCK_TAIL
};

struct TQ5_K {
    static bool is_bf16() { return false; }
    // as Q4_K plus a fifth bit: qh[r % 32] bit (2g + (r >= 32))
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q5_K * b = (device const block_q5_K *)row + e0 / 256;
        uint e = e0 % 256, g = e / 64, r = e % 64, hi = r / 32;
        float2 sm = scale_min_k4(2 * g + hi, b->scales);
        float dl = float(b->d) * sm.x, ml = float(b->dmin) * sm.y;
        device const uchar * q = b->qs + 32 * g + (r % 32);
        device const uchar * qh = b->qh + (r % 32);
        uint shift = 4 * hi, bit = 2 * g + hi;
        for (uint i = 0; i < 8; i++) out[i] = dl * float(((q[i] >> shift) & 0xFu) | (((qh[i] >> bit) & 1u) << 4)) - ml;
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q5_K * b = (device const block_q5_K *)row + e0 / 256;
        uint e = e0 % 256, g = e / 64, r = e % 64, hi = r / 32;
        float2 sm = scale_min_k4(2 * g + hi, b->scales);
        device const uchar * q = b->qs + 32 * g + (r % 32);
        device const uchar * qh = b->qh + (r % 32);
        uint shift = 4 * hi, bit = 2 * g + hi;
        float s = 0.0f, sy = 0.0f;
        for (uint i = 0; i < 8; i++) {
            s += float(((q[i] >> shift) & 0xFu) | (((qh[i] >> bit) & 1u) << 4)) * y[i];
            sy += y[i];
        }
        return float(b->d) * sm.x * s - float(b->dmin) * sm.y * sy;
    }
    STRATA_BLOCK_TAIL
};

struct TQ6_K {
    static bool is_bf16() { return false; }
    // element e: h = e / 128, k = (e % 128) / 32, l = e % 32;
    // q = ((ql[64h + l + 32(k & 1)] >> 4(k >> 1)) & 15 | ((qh[32h + l] >> 2k) & 3) << 4) - 32;
    // x = d * scales[8h + l / 16 + 2k] * q
    static void dequant8(device const uchar * row, uint e0, thread float * out) {
        device const block_q6_K * b = (device const block_q6_K *)row + e0 / 256;
        uint e = e0 % 256, h = e / 128, k = (e % 128) / 32, l = e % 32;
        float dl = float(b->d) * float(b->scales[8 * h + l / 16 + 2 * k]);
        device const uchar * ql = b->ql + 64 * h + l + 32 * (k & 1u);
        device const uchar * qh = b->qh + 32 * h + l;
        uint shift = 4 * (k >> 1);
        for (uint i = 0; i < 8; i++) {
            int v = int(((ql[i] >> shift) & 0xFu) | (((qh[i] >> (2 * k)) & 3u) << 4)) - 32;
            out[i] = dl * float(v);
        }
    }
    static float dot8(device const uchar * row, uint e0, thread const float * y) {
        device const block_q6_K * b = (device const block_q6_K *)row + e0 / 256;
        uint e = e0 % 256, h = e / 128, k = (e % 128) / 32, l = e % 32;
        device const uchar * ql = b->ql + 64 * h + l + 32 * (k & 1u);
        device const uchar * qh = b->qh + 32 * h + l;
        uint shift = 4 * (k >> 1);
        float s = 0.0f;
        for (uint i = 0; i < 8; i++) {
            int v = int(((ql[i] >> shift) & 0xFu) | (((qh[i] >> (2 * k)) & 3u) << 4)) - 32;
            s += float(v) * y[i];
        }
        return float(b->d) * float(b->scales[8 * h + l / 16 + 2 * k]) * s;
    }
    STRATA_BLOCK_TAIL
};

// Loads 8 activations x[e0 .. e0 + 8) (zeros past ncols), rounded to bfloat16 for BF16 weights.
template <typename T>
inline void load_x8(device const float * x, uint e0, uint ncols, thread float * y) {
    for (uint j = 0; j < 8; j++) {
        float v = e0 + j < ncols ? x[e0 + j] : 0.0f;
        y[j] = T::is_bf16() ? round_to_bf16(v) : v;
    }
}
