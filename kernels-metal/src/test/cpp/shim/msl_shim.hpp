// The Metal Shading Language surface Strata's kernels use, as C++ for clang (>= 14), so the same .metal
// files compile and run on a CPU. See kernels-metal/README.md, "How the kernels are verified".
//
// - Address spaces are clang address spaces: passing a `device float*` where a `threadgroup float*` is
//   expected is a compile error, as in MSL.
// - `half` is clang's __fp16: a storage type with IEEE binary16 round-to-nearest-even conversions;
//   arithmetic happens in float. (clang 14 on x86-64 has no _Float16.) Kernels therefore use half only
//   for storage: no half parameters or return values, convert with float(...).
// - Vectors are clang ext_vector_types (sizeof(float3) == 16 as in MSL); `float4(...)` etc. are
//   function-like macros that broadcast, convert or concatenate.
// - Every SIMD-group collective and barrier is a rendezvous of fibers run by shim_runtime.cpp, which
//   checks that all lanes reach the same call site.
#pragma once

#include "msl_abi.hpp"

// ---- address spaces and qualifiers ------------------------------------------------------------------
#define device __attribute__((address_space(1)))
#define constant __attribute__((address_space(2)))
#define threadgroup __attribute__((address_space(3)))
#define thread
#define kernel

// ---- scalar and vector types -------------------------------------------------------------------------
typedef __fp16 half;
typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;

#define MSL_VECTORS(T)                                      \
    typedef T T##2 __attribute__((ext_vector_type(2)));    \
    typedef T T##3 __attribute__((ext_vector_type(3)));    \
    typedef T T##4 __attribute__((ext_vector_type(4)));

MSL_VECTORS(float)
MSL_VECTORS(half)
MSL_VECTORS(int)
MSL_VECTORS(uint)
MSL_VECTORS(short)
MSL_VECTORS(ushort)
MSL_VECTORS(char)
MSL_VECTORS(uchar)
MSL_VECTORS(long)
MSL_VECTORS(ulong)

namespace msl {

template <class T> struct strip { using type = T; };
template <class T> struct strip<const T> { using type = typename strip<T>::type; };
template <class T> struct strip<volatile T> { using type = typename strip<T>::type; };
template <class T> struct strip<device T> { using type = typename strip<T>::type; };
template <class T> struct strip<constant T> { using type = typename strip<T>::type; };
template <class T> struct strip<threadgroup T> { using type = typename strip<T>::type; };
template <class T> using plain = typename strip<T>::type;

template <class T> struct vtraits { static constexpr int n = 0; using elem = T; };
#define MSL_VTRAITS(T)                                                                  \
    template <> struct vtraits<T##2> { static constexpr int n = 2; using elem = T; };   \
    template <> struct vtraits<T##3> { static constexpr int n = 3; using elem = T; };   \
    template <> struct vtraits<T##4> { static constexpr int n = 4; using elem = T; };
MSL_VTRAITS(float)
MSL_VTRAITS(half)
MSL_VTRAITS(int)
MSL_VTRAITS(uint)
MSL_VTRAITS(short)
MSL_VTRAITS(ushort)
MSL_VTRAITS(char)
MSL_VTRAITS(uchar)
MSL_VTRAITS(long)
MSL_VTRAITS(ulong)

// Element conversion; half goes through float (C++ forbids __fp16 by value, not by reference).
template <class E, class S> inline E conv(const S& s) {
    if constexpr (__is_same(plain<S>, half)) {
        return (E)(float)s;
    } else {
        return (E)s;
    }
}

template <class A> constexpr int components() {
    return vtraits<plain<A>>::n == 0 ? 1 : vtraits<plain<A>>::n;
}

template <class E, class A> inline void put(E* dst, int& k, const A& a) {
    using P = plain<A>;
    if constexpr (vtraits<P>::n == 0) {
        dst[k++] = conv<E>(a);
    } else {
        for (int i = 0; i < vtraits<P>::n; i++) {
            const auto& x = a[i];
            dst[k++] = conv<E>(x);
        }
    }
}

// float4(x): broadcast a scalar or convert a vector of 4; float4(a, b, ...): concatenate components.
template <class V, class... A> inline V make(const A&... a) {
    using E = typename vtraits<V>::elem;
    constexpr int N = vtraits<V>::n;
    constexpr int given = (components<A>() + ... + 0);
    static_assert(given == N || (sizeof...(A) == 1 && given == 1), "vector constructor: wrong number of components");
    E tmp[N];
    int k = 0;
    (put(tmp, k, a), ...);
    for (; k < N; k++) tmp[k] = tmp[0];  // broadcast
    V r;
    for (int i = 0; i < N; i++) r[i] = tmp[i];
    return r;
}

// The value of a built-in attribute as the kernel declared it (scalar: the x component).
template <class T> inline T builtin(const uint32_t* v) {
    if constexpr (vtraits<T>::n == 0) {
        return (T)v[0];
    } else {
        T r;
        for (int i = 0; i < vtraits<T>::n; i++) r[i] = (typename vtraits<T>::elem)v[i];
        return r;
    }
}

}  // namespace msl

#define MSL_CTOR(V) ::msl::make<V>
#define float2(...) MSL_CTOR(float2)(__VA_ARGS__)
#define float3(...) MSL_CTOR(float3)(__VA_ARGS__)
#define float4(...) MSL_CTOR(float4)(__VA_ARGS__)
#define half2(...) MSL_CTOR(half2)(__VA_ARGS__)
#define half3(...) MSL_CTOR(half3)(__VA_ARGS__)
#define half4(...) MSL_CTOR(half4)(__VA_ARGS__)
#define int2(...) MSL_CTOR(int2)(__VA_ARGS__)
#define int3(...) MSL_CTOR(int3)(__VA_ARGS__)
#define int4(...) MSL_CTOR(int4)(__VA_ARGS__)
#define uint2(...) MSL_CTOR(uint2)(__VA_ARGS__)
#define uint3(...) MSL_CTOR(uint3)(__VA_ARGS__)
#define uint4(...) MSL_CTOR(uint4)(__VA_ARGS__)
#define short2(...) MSL_CTOR(short2)(__VA_ARGS__)
#define short3(...) MSL_CTOR(short3)(__VA_ARGS__)
#define short4(...) MSL_CTOR(short4)(__VA_ARGS__)
#define ushort2(...) MSL_CTOR(ushort2)(__VA_ARGS__)
#define ushort3(...) MSL_CTOR(ushort3)(__VA_ARGS__)
#define ushort4(...) MSL_CTOR(ushort4)(__VA_ARGS__)
#define char2(...) MSL_CTOR(char2)(__VA_ARGS__)
#define char3(...) MSL_CTOR(char3)(__VA_ARGS__)
#define char4(...) MSL_CTOR(char4)(__VA_ARGS__)
#define uchar2(...) MSL_CTOR(uchar2)(__VA_ARGS__)
#define uchar3(...) MSL_CTOR(uchar3)(__VA_ARGS__)
#define uchar4(...) MSL_CTOR(uchar4)(__VA_ARGS__)
#define ulong2(...) MSL_CTOR(ulong2)(__VA_ARGS__)

// ---- constants -----------------------------------------------------------------------------------------
#define INFINITY __builtin_inff()
#define NAN __builtin_nanf("")
#define FLT_MAX __FLT_MAX__
#define FLT_MIN __FLT_MIN__
#define HALF_MAX 65504.0f
#define M_PI_F 3.14159265358979323846f
#define M_LN2_F 0.69314718055994530942f

namespace metal {

// ---- math (float; the kernels do their arithmetic in float) -------------------------------------------
#define MSL_MATH_SET                                                                              \
    inline float exp(float x) { return __builtin_expf(x); }                                       \
    inline float exp2(float x) { return __builtin_exp2f(x); }                                     \
    inline float log(float x) { return __builtin_logf(x); }                                       \
    inline float log2(float x) { return __builtin_log2f(x); }                                     \
    inline float sqrt(float x) { return __builtin_sqrtf(x); }                                     \
    inline float rsqrt(float x) { return 1.0f / __builtin_sqrtf(x); }                             \
    inline float sin(float x) { return __builtin_sinf(x); }                                       \
    inline float cos(float x) { return __builtin_cosf(x); }                                       \
    inline float sincos(float x, thread float& c) { c = __builtin_cosf(x); return __builtin_sinf(x); } \
    inline float tanh(float x) { return __builtin_tanhf(x); }                                     \
    inline float pow(float x, float y) { return __builtin_powf(x, y); }                           \
    inline float powr(float x, float y) { return __builtin_powf(x, y); }                          \
    inline float divide(float x, float y) { return x / y; }

MSL_MATH_SET
namespace fast { MSL_MATH_SET }
namespace precise { MSL_MATH_SET }
#undef MSL_MATH_SET

inline float floor(float x) { return __builtin_floorf(x); }
inline float ceil(float x) { return __builtin_ceilf(x); }
inline float round(float x) { return __builtin_roundf(x); }
inline float trunc(float x) { return __builtin_truncf(x); }
inline float fabs(float x) { return __builtin_fabsf(x); }
inline float abs(float x) { return __builtin_fabsf(x); }
inline int abs(int x) { return x < 0 ? -x : x; }
inline float fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
inline float fmax(float a, float b) { return __builtin_fmaxf(a, b); }
inline float fmin(float a, float b) { return __builtin_fminf(a, b); }
inline bool isnan(float x) { return __builtin_isnan(x); }
inline bool isinf(float x) { return __builtin_isinf(x); }
inline bool isfinite(float x) { return __builtin_isfinite(x); }

#define MSL_MINMAX(T)                                                              \
    inline T max(T a, T b) { return a > b ? a : b; }                              \
    inline T min(T a, T b) { return a < b ? a : b; }                              \
    inline T clamp(T x, T lo, T hi) { return x < lo ? lo : (x > hi ? hi : x); }
MSL_MINMAX(int)
MSL_MINMAX(uint)
MSL_MINMAX(short)
MSL_MINMAX(ushort)
MSL_MINMAX(long)
MSL_MINMAX(ulong)
#undef MSL_MINMAX
inline float max(float a, float b) { return __builtin_fmaxf(a, b); }
inline float min(float a, float b) { return __builtin_fminf(a, b); }
inline float clamp(float x, float lo, float hi) { return __builtin_fminf(__builtin_fmaxf(x, lo), hi); }

inline float dot(float2 a, float2 b) { return a.x * b.x + a.y * b.y; }
inline float dot(float3 a, float3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline float dot(float4 a, float4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }

inline float select(float a, float b, bool c) { return c ? b : a; }
inline int select(int a, int b, bool c) { return c ? b : a; }
inline uint select(uint a, uint b, bool c) { return c ? b : a; }

// Reinterprets the bits (MSL as_type); the sizes must match.
template <class T, class S> inline T as_type(const S& s) {
    static_assert(sizeof(T) == sizeof(msl::plain<S>), "as_type: sizes differ");
    T t;
    __builtin_memcpy(&t, (const void*)&s, sizeof(T));
    return t;
}

// ---- barriers ----------------------------------------------------------------------------------------------
enum class mem_flags : int { mem_none = 0, mem_device = 1, mem_threadgroup = 2, mem_texture = 4, mem_threadgroup_imageblock = 8 };
inline mem_flags operator|(mem_flags a, mem_flags b) { return (mem_flags)((int)a | (int)b); }

inline void threadgroup_barrier(mem_flags, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    msl::barrier(msl::Site{file, line, "threadgroup_barrier"});
}

namespace shimimpl {
inline void nothing(const void* const*, void* const*, int) {}

template <class T> void sum(const void* const* in, void* const* out, int n) {
    T acc = *(const T*)in[0];
    for (int i = 1; i < n; i++) acc += *(const T*)in[i];
    for (int i = 0; i < n; i++) *(T*)out[i] = acc;
}
template <class T> void product(const void* const* in, void* const* out, int n) {
    T acc = *(const T*)in[0];
    for (int i = 1; i < n; i++) acc *= *(const T*)in[i];
    for (int i = 0; i < n; i++) *(T*)out[i] = acc;
}
// max/min propagate NaN, so poisoned (never written) threadgroup memory cannot hide in a reduction.
template <class T> void maximum(const void* const* in, void* const* out, int n) {
    T acc = *(const T*)in[0];
    for (int i = 1; i < n; i++) {
        T x = *(const T*)in[i];
        if (x != x || x > acc) acc = x;
        if (acc != acc) break;
    }
    for (int i = 0; i < n; i++) *(T*)out[i] = acc;
}
template <class T> void minimum(const void* const* in, void* const* out, int n) {
    T acc = *(const T*)in[0];
    for (int i = 1; i < n; i++) {
        T x = *(const T*)in[i];
        if (x != x || x < acc) acc = x;
        if (acc != acc) break;
    }
    for (int i = 0; i < n; i++) *(T*)out[i] = acc;
}
template <class T> void prefix_exclusive(const void* const* in, void* const* out, int n) {
    T acc = *(const T*)in[0] - *(const T*)in[0];
    for (int i = 0; i < n; i++) {
        T x = *(const T*)in[i];
        *(T*)out[i] = acc;
        acc += x;
    }
}
template <class T> void prefix_inclusive(const void* const* in, void* const* out, int n) {
    T acc = *(const T*)in[0] - *(const T*)in[0];
    for (int i = 0; i < n; i++) {
        acc += *(const T*)in[i];
        *(T*)out[i] = acc;
    }
}
template <class T> struct LaneArg {
    T value;
    int arg;  // lane, delta or mask
};
template <class T> void shuffle(const void* const* in, void* const* out, int n) {
    for (int i = 0; i < n; i++) {
        int src = ((const LaneArg<T>*)in[i])->arg;
        if (src < 0 || src >= n) msl::fail("simd_shuffle / simd_broadcast from a lane outside the SIMD-group");
        *(T*)out[i] = ((const LaneArg<T>*)in[src])->value;
    }
}
template <class T> void shuffle_down(const void* const* in, void* const* out, int n) {
    for (int i = 0; i < n; i++) {
        int src = i + ((const LaneArg<T>*)in[i])->arg;
        *(T*)out[i] = ((const LaneArg<T>*)in[src < n ? src : i])->value;
    }
}
template <class T> void shuffle_up(const void* const* in, void* const* out, int n) {
    for (int i = 0; i < n; i++) {
        int src = i - ((const LaneArg<T>*)in[i])->arg;
        *(T*)out[i] = ((const LaneArg<T>*)in[src >= 0 ? src : i])->value;
    }
}
template <class T> void shuffle_xor(const void* const* in, void* const* out, int n) {
    for (int i = 0; i < n; i++) {
        int src = i ^ ((const LaneArg<T>*)in[i])->arg;
        if (src >= n) msl::fail("simd_shuffle_xor from a lane outside the SIMD-group");
        *(T*)out[i] = ((const LaneArg<T>*)in[src])->value;
    }
}
template <class T> void first(const void* const* in, void* const* out, int n) {
    for (int i = 0; i < n; i++) *(T*)out[i] = *(const T*)in[0];
}
inline void all(const void* const* in, void* const* out, int n) {
    bool r = true;
    for (int i = 0; i < n; i++) r = r && *(const bool*)in[i];
    for (int i = 0; i < n; i++) *(bool*)out[i] = r;
}
inline void any(const void* const* in, void* const* out, int n) {
    bool r = false;
    for (int i = 0; i < n; i++) r = r || *(const bool*)in[i];
    for (int i = 0; i < n; i++) *(bool*)out[i] = r;
}
inline void lane_index(const void* const*, void* const* out, int n) {
    for (int i = 0; i < n; i++) *(int*)out[i] = i;
}
inline void lane_and_count(const void* const*, void* const* out, int n) {
    for (int i = 0; i < n; i++) {
        ((int*)out[i])[0] = i;
        ((int*)out[i])[1] = n;
    }
}
}  // namespace shimimpl

#define MSL_SITE_PARAMS const char* file = __builtin_FILE(), int line = __builtin_LINE()
#define MSL_SITE(op) msl::Site{file, line, op}

inline void simdgroup_barrier(mem_flags, MSL_SITE_PARAMS) {
    msl::collective(MSL_SITE("simdgroup_barrier"), nullptr, nullptr, &shimimpl::nothing);
}

#define MSL_REDUCTION(name, impl)                                                   \
    template <class T> inline msl::plain<T> name(const T& v, MSL_SITE_PARAMS) {     \
        using P = msl::plain<T>;                                                    \
        P in = v;                                                                   \
        P out;                                                                      \
        msl::collective(MSL_SITE(#name), &in, &out, &shimimpl::impl<P>);            \
        return out;                                                                 \
    }
MSL_REDUCTION(simd_sum, sum)
MSL_REDUCTION(simd_product, product)
MSL_REDUCTION(simd_max, maximum)
MSL_REDUCTION(simd_min, minimum)
MSL_REDUCTION(simd_prefix_exclusive_sum, prefix_exclusive)
MSL_REDUCTION(simd_prefix_inclusive_sum, prefix_inclusive)
MSL_REDUCTION(simd_broadcast_first, first)
#undef MSL_REDUCTION

#define MSL_SHUFFLE(name, impl)                                                            \
    template <class T> inline msl::plain<T> name(const T& v, ushort arg, MSL_SITE_PARAMS) { \
        using P = msl::plain<T>;                                                           \
        shimimpl::LaneArg<P> in{v, (int)arg};                                              \
        P out;                                                                             \
        msl::collective(MSL_SITE(#name), &in, &out, &shimimpl::impl<P>);                   \
        return out;                                                                        \
    }
MSL_SHUFFLE(simd_shuffle, shuffle)
MSL_SHUFFLE(simd_broadcast, shuffle)
MSL_SHUFFLE(simd_shuffle_down, shuffle_down)
MSL_SHUFFLE(simd_shuffle_up, shuffle_up)
MSL_SHUFFLE(simd_shuffle_xor, shuffle_xor)
#undef MSL_SHUFFLE

inline bool simd_all(bool b, MSL_SITE_PARAMS) {
    bool out;
    msl::collective(MSL_SITE("simd_all"), &b, &out, &shimimpl::all);
    return out;
}
inline bool simd_any(bool b, MSL_SITE_PARAMS) {
    bool out;
    msl::collective(MSL_SITE("simd_any"), &b, &out, &shimimpl::any);
    return out;
}
inline bool simd_is_first(MSL_SITE_PARAMS) {
    int lane;
    msl::collective(MSL_SITE("simd_is_first"), nullptr, &lane, &shimimpl::lane_index);
    return lane == 0;
}

// ---- SIMD-group matrices -------------------------------------------------------------------------------
// Every lane holds the whole tile (on the GPU each lane holds two elements). Loads, stores and products
// are collectives, so divergent use is reported; a store writes each element from the lane that owns it
// on the GPU (lane l: elements 2l and 2l+1 in row-major order), so reading another lane's elements
// without a barrier can be caught.
template <class T, int Cols, int Rows = Cols> struct simdgroup_matrix {
    T m[Rows][Cols];  // [row][column]
};
typedef simdgroup_matrix<float, 8, 8> simdgroup_float8x8;
typedef simdgroup_matrix<half, 8, 8> simdgroup_half8x8;

template <class T, int Cols, int Rows = Cols>
inline simdgroup_matrix<T, Cols, Rows> make_filled_simdgroup_matrix(const T& value) {
    simdgroup_matrix<T, Cols, Rows> r;
    for (int i = 0; i < Rows; i++)
        for (int j = 0; j < Cols; j++) r.m[i][j] = value;
    return r;
}

namespace shimimpl {
template <class T, int C, int R, class P>
inline void matrix_load(simdgroup_matrix<T, C, R>& d, P src, ulong elements_per_row, ulong2 origin, bool transpose) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            ulong row = transpose ? c : r, col = transpose ? r : c;
            const auto& x = src[(origin.y + row) * elements_per_row + origin.x + col];
            d.m[r][c] = msl::conv<T>(x);
        }
}
template <class T, int C, int R, class P>
inline void matrix_store(const simdgroup_matrix<T, C, R>& a, P dst, ulong elements_per_row, ulong2 origin, bool transpose, int lane, int lanes) {
    for (int e = 0; e < R * C; e++) {
        if ((e / 2) % lanes != lane) continue;
        int r = e / C, c = e % C;
        ulong row = transpose ? c : r, col = transpose ? r : c;
        dst[(origin.y + row) * elements_per_row + origin.x + col] = a.m[r][c];
    }
}
struct MatmulIn {
    const void* a;
    const void* b;
    const void* c;
};
template <class D, class A, class B, class C> void matmul(const void* const* in, void* const* out, int n) {
    const MatmulIn& x = *(const MatmulIn*)in[0];
    const A& a = *(const A*)x.a;
    const B& b = *(const B*)x.b;
    D d;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            float acc = 0.0f;
            if (x.c) acc = (float)((const C*)x.c)->m[i][j];
            for (int k = 0; k < 8; k++) acc += (float)a.m[i][k] * (float)b.m[k][j];
            d.m[i][j] = acc;
        }
    for (int l = 0; l < n; l++) *(D*)out[l] = d;
}
}  // namespace shimimpl

#define MSL_MATRIX_LOAD(SPACE)                                                                                  \
    template <class T, int C, int R, class S>                                                                   \
    inline void simdgroup_load(thread simdgroup_matrix<T, C, R>& d, const SPACE S* src, ulong elements_per_row = C, \
                               ulong2 origin = ulong2(0), bool transpose = false, MSL_SITE_PARAMS) {              \
        msl::collective(MSL_SITE("simdgroup_load"), nullptr, nullptr, &shimimpl::nothing);                       \
        shimimpl::matrix_load(d, src, elements_per_row, origin, transpose);                                     \
    }                                                                                                           \
    template <class T, int C, int R, class S>                                                                   \
    inline void simdgroup_store(const thread simdgroup_matrix<T, C, R>& a, SPACE S* dst, ulong elements_per_row = C, \
                                ulong2 origin = ulong2(0), bool transpose = false, MSL_SITE_PARAMS) {             \
        int lane[2];                                                                                            \
        msl::collective(MSL_SITE("simdgroup_store"), nullptr, lane, &shimimpl::lane_and_count);                 \
        shimimpl::matrix_store(a, dst, elements_per_row, origin, transpose, lane[0], lane[1]);                  \
    }
MSL_MATRIX_LOAD(device)
MSL_MATRIX_LOAD(threadgroup)
#undef MSL_MATRIX_LOAD

template <class D, class A, class B, class C>
inline void simdgroup_multiply_accumulate(thread D& d, const thread A& a, const thread B& b, const thread C& c, MSL_SITE_PARAMS) {
    shimimpl::MatmulIn in{&a, &b, &c};
    D out;
    msl::collective(MSL_SITE("simdgroup_multiply_accumulate"), &in, &out, &shimimpl::matmul<D, A, B, C>);
    d = out;
}
template <class D, class A, class B>
inline void simdgroup_multiply(thread D& d, const thread A& a, const thread B& b, MSL_SITE_PARAMS) {
    shimimpl::MatmulIn in{&a, &b, nullptr};
    D out;
    msl::collective(MSL_SITE("simdgroup_multiply"), &in, &out, &shimimpl::matmul<D, A, B, D>);
    d = out;
}

#undef MSL_SITE_PARAMS
#undef MSL_SITE

}  // namespace metal
