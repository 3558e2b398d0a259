// The contract between the shim runtime (shim_runtime.cpp), the launchers generated for each kernel
// (ShimBuild.java) and the Java side (ShimDevice.java). Plain C++ with no MSL macros, so the runtime can
// include standard headers freely.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace msl {

// Where a collective or a barrier was called from; sites must match across the lanes that meet there.
struct Site {
    const char* file;
    int line;
    const char* op;
};

// The built-in values of one GPU thread (MSL attributes such as [[thread_position_in_grid]]).
struct Ids {
    uint32_t threadgroup_position_in_grid[3];
    uint32_t thread_position_in_threadgroup[3];
    uint32_t thread_position_in_grid[3];
    uint32_t threads_per_threadgroup[3];
    uint32_t threadgroups_per_grid[3];
    uint32_t threads_per_grid[3];
    uint32_t thread_index_in_threadgroup;
    uint32_t simdgroup_index_in_threadgroup;
    uint32_t thread_index_in_simdgroup;
    uint32_t threads_per_simdgroup;
    uint32_t simdgroups_per_threadgroup;
};

// What one dispatch binds: buffer pointers (already offset), threadgroup memory of this threadgroup.
struct Launch {
    void* const* buffers;         // [31]
    const uint64_t* lengths;      // [31] bytes from the pointer to the end of the bound buffer
    uint32_t bytes_mask;          // bit i: buffer i was bound with setBytes (length is exact)
    void* const* tgmem;           // [8] this threadgroup's memory per [[threadgroup(i)]] index
    const uint32_t* tgmem_len;    // [8]
};

typedef void (*KernelFn)(const Launch&, const Ids&);

// Checks the runtime makes before a dispatch, generated from the kernel's parameter list.
struct ParamCheck {
    int kind;       // 0: buffer(index) pointer, 1: buffer(index) reference to a struct of `size` bytes, 2: threadgroup(index)
    int index;
    size_t size;
    const char* text;  // the parameter as written, for messages
};

struct KernelEntry {
    const char* name;
    KernelFn fn;
    const ParamCheck* params;
    int nparams;
};

// Computes every lane's result of one collective once all lanes have arrived: ins[i] / outs[i] belong to
// lane i of the SIMD-group (n lanes). `lane` arguments (shuffles) travel inside the per-lane inputs.
typedef void (*CollectiveFn)(const void* const* ins, void* const* outs, int n);

// Called on a GPU thread (fiber). Blocks until every lane of its SIMD-group has reached a collective,
// checks that they all reached the same one, runs fn once and returns with *out set.
void collective(const Site& site, const void* in, void* out, CollectiveFn fn);

// threadgroup_barrier: blocks until every thread of the threadgroup has reached the same barrier.
void barrier(const Site& site);

// Reports a kernel-side error (e.g. an argument the shim cannot honour) and abandons the dispatch.
[[noreturn]] void fail(const char* message);

}  // namespace msl

// The kernel table the generated launcher file defines.
extern "C" const msl::KernelEntry msl_kernel_table[];
extern "C" const int msl_kernel_count;
