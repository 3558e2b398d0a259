// Runs MSL compute dispatches on the CPU: every GPU thread of a threadgroup is a fiber; a scheduler runs
// the fibers of one threadgroup on one OS thread and implements threadgroup barriers and SIMD-group
// collectives as rendezvous, checking that every lane (thread) reaches the same call site.
//
// Scheduling (chosen per dispatch): threadgroups, SIMD-groups and lanes run in forward, reverse or seeded
// random order. Within a barrier phase one SIMD-group runs until all its lanes wait at a barrier or have
// returned before the next SIMD-group starts, and within a SIMD-group one lane runs until it blocks. That
// maximises the skew between threads, so a missing barrier lets a thread read threadgroup memory that is
// still poisoned (0xFF bytes, a NaN) or already overwritten, in at least one of the orders.
//
// Checks: divergent collectives and barriers (different call sites), a collective or barrier reached after
// other threads returned, unbound buffers, argument-struct sizes, threadgroup memory sizes, and a guard
// page under every fiber stack.
#include "msl_abi.hpp"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#if defined(__x86_64__) && !defined(MSL_SHIM_UCONTEXT)
#define MSL_ASM_SWITCH 1
#else
#define MSL_ASM_SWITCH 0
#include <ucontext.h>
#endif

namespace {

constexpr int kSimdWidth = 32;
constexpr int kMaxThreads = 1024;
constexpr size_t kStackSize = 128 * 1024;
constexpr uint32_t kMaxThreadgroupMemory = 32 * 1024;

enum State : uint8_t { kRunnable, kAtCollective, kAtBarrier, kDone };

#if MSL_ASM_SWITCH
// void msl_switch(void** save_sp, void* next_sp): saves the callee-saved registers, MXCSR and the x87
// control word on the current stack, stores the stack pointer in *save_sp and resumes next_sp.
extern "C" void msl_switch(void** save_sp, void* next_sp);
asm(R"(
    .text
    .globl msl_switch
    .hidden msl_switch
    .type msl_switch,@function
msl_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size msl_switch, .-msl_switch
    .section .note.GNU-stack,"",@progbits
    .text
)");
#endif

struct Fiber {
#if MSL_ASM_SWITCH
    void* sp = nullptr;
#else
    ucontext_t ctx;
#endif
    State state = kRunnable;
    msl::Site site{};
    const void* in = nullptr;
    void* out = nullptr;
    msl::CollectiveFn fn = nullptr;
    msl::Ids ids{};
};

struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    void shuffle(std::vector<int>& v) {
        for (size_t i = v.size(); i > 1; i--) {
            size_t j = next() % i;
            int t = v[i - 1];
            v[i - 1] = v[j];
            v[j] = t;
        }
    }
};

struct Group;
thread_local Group* tl_group = nullptr;

// Stacks for the fibers of one OS thread, each with a PROT_NONE guard page below it; reused across dispatches.
struct StackPool {
    char* base = nullptr;
    size_t count = 0;
    size_t page = 0;
    size_t slot() const { return kStackSize + page; }
    bool ensure(size_t n, std::string& err) {
        if (n <= count) return true;
        if (base) munmap(base, count * slot());
        page = (size_t)sysconf(_SC_PAGESIZE);
        base = (char*)mmap(nullptr, n * slot(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) {
            base = nullptr;
            count = 0;
            err = std::string("cannot map fiber stacks: ") + strerror(errno);
            return false;
        }
        for (size_t i = 0; i < n; i++) mprotect(base + i * slot(), page, PROT_NONE);
        count = n;
        return true;
    }
    char* bottom(size_t i) const { return base + i * slot() + page; }
};
thread_local StackPool tl_stacks;

struct Group {
    const msl::KernelEntry* kernel = nullptr;
    msl::Launch launch{};
    int nthreads = 0;
    int nsg = 0;
    std::vector<Fiber> fibers;
    std::vector<int> arrived;  // per SIMD-group: lanes waiting at the current collective
    std::vector<int> sg_order;
    std::vector<int> lane_order;
    int current = -1;
    int order = 0;
    Rng rng{0};
    std::string error;
#if MSL_ASM_SWITCH
    void* sched_sp = nullptr;
#else
    ucontext_t sched_ctx;
#endif
    uint32_t tg_pos[3] = {0, 0, 0};

    int lanes_in(int sg) const { return nthreads - sg * kSimdWidth < kSimdWidth ? nthreads - sg * kSimdWidth : kSimdWidth; }
};

std::string where(const msl::Site& s) {
    char buf[64];
    snprintf(buf, sizeof buf, ":%d", s.line);
    return std::string(s.op ? s.op : "?") + " at " + (s.file ? s.file : "?") + buf;
}

bool same_site(const msl::Site& a, const msl::Site& b) {
    return a.line == b.line && a.op == b.op && (a.file == b.file || (a.file && b.file && strcmp(a.file, b.file) == 0));
}

void to_scheduler(Group& g) {
    Fiber& f = g.fibers[g.current];
#if MSL_ASM_SWITCH
    msl_switch(&f.sp, g.sched_sp);
#else
    swapcontext(&f.ctx, &g.sched_ctx);
#endif
}

void resume(Group& g, int t) {
    g.current = t;
#if MSL_ASM_SWITCH
    msl_switch(&g.sched_sp, g.fibers[t].sp);
#else
    swapcontext(&g.sched_ctx, &g.fibers[t].ctx);
#endif
    g.current = -1;
}

// Records the first error and leaves the fiber for good.
[[noreturn]] void fail_here(Group& g, const std::string& msg) {
    if (g.error.empty()) g.error = msg;
    to_scheduler(g);
    __builtin_trap();  // the scheduler never resumes a fiber after an error
}

std::string thread_name(const Group& g, int t) {
    char buf[96];
    snprintf(buf, sizeof buf, "thread %d (SIMD-group %d, lane %d)", t, t / kSimdWidth, t % kSimdWidth);
    return buf;
}

void fiber_main() {
    Group& g = *tl_group;
    int t = g.current;
    g.kernel->fn(g.launch, g.fibers[t].ids);
    Fiber& f = g.fibers[t];
    f.state = kDone;
    int sg = t / kSimdWidth;
    if (g.arrived[sg] > 0) {
        int first = sg * kSimdWidth;
        for (int l = 0; l < g.lanes_in(sg); l++) {
            if (g.fibers[first + l].state == kAtCollective) {
                fail_here(g, thread_name(g, t) + " returned while " + thread_name(g, first + l) + " waits at " +
                                 where(g.fibers[first + l].site) + ": every lane of a SIMD-group must reach a collective");
            }
        }
    }
    to_scheduler(g);
    __builtin_trap();
}

#if MSL_ASM_SWITCH
extern "C" void msl_fiber_entry() { fiber_main(); }
#endif

void init_fiber(Group& g, int t) {
    Fiber& f = g.fibers[t];
    char* bottom = tl_stacks.bottom(t);
#if MSL_ASM_SWITCH
    uintptr_t top = ((uintptr_t)(bottom + kStackSize)) & ~(uintptr_t)15;
    uint64_t* sp = (uint64_t*)top;
    *--sp = 0;                                    // keeps the entry's stack aligned as after a call
    *--sp = (uint64_t)(uintptr_t)&msl_fiber_entry;  // where msl_switch's ret goes
    for (int i = 0; i < 6; i++) *--sp = 0;       // rbp rbx r12 r13 r14 r15
    uint32_t mxcsr;
    uint16_t fpucw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    *--sp = (uint64_t)mxcsr | ((uint64_t)fpucw << 32);
    f.sp = sp;
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = bottom;
    f.ctx.uc_stack.ss_size = kStackSize;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, (void (*)())fiber_main, 0);
#endif
    f.state = kRunnable;
}

void make_order(std::vector<int>& v, int n, int order, Rng& rng) {
    v.resize(n);
    for (int i = 0; i < n; i++) v[i] = order == 1 ? n - 1 - i : i;
    if (order == 2) rng.shuffle(v);
}

// Runs one SIMD-group until all its lanes wait at a barrier or have returned.
bool run_simdgroup(Group& g, int sg) {
    int first = sg * kSimdWidth, n = g.lanes_in(sg);
    for (;;) {
        bool ran = false;
        for (int k = 0; k < kSimdWidth; k++) {
            int lane = g.lane_order[k];
            if (lane >= n) continue;
            if (g.fibers[first + lane].state == kRunnable) {
                resume(g, first + lane);
                ran = true;
                if (!g.error.empty()) return false;
            }
        }
        if (!ran) break;
    }
    for (int l = 0; l < n; l++) {
        const Fiber& f = g.fibers[first + l];
        if (f.state != kAtCollective) continue;
        for (int o = 0; o < n; o++) {
            const Fiber& other = g.fibers[first + o];
            if (other.state == kAtBarrier) {
                g.error = "deadlock: " + thread_name(g, first + l) + " waits at " + where(f.site) + " while " +
                          thread_name(g, first + o) + " waits at " + where(other.site);
                return false;
            }
        }
    }
    return true;
}

bool run_group(Group& g) {
    for (int t = 0; t < g.nthreads; t++) init_fiber(g, t);
    for (int s = 0; s < g.nsg; s++) g.arrived[s] = 0;
    make_order(g.sg_order, g.nsg, g.order, g.rng);
    make_order(g.lane_order, kSimdWidth, g.order, g.rng);
    for (;;) {
        for (int k = 0; k < g.nsg; k++) {
            if (!run_simdgroup(g, g.sg_order[k])) return false;
        }
        int waiting = -1, done = -1, nwaiting = 0;
        for (int t = 0; t < g.nthreads; t++) {
            if (g.fibers[t].state == kAtBarrier) {
                if (waiting < 0) waiting = t;
                nwaiting++;
                if (!same_site(g.fibers[t].site, g.fibers[waiting].site)) {
                    g.error = "divergent barrier: " + thread_name(g, waiting) + " waits at " + where(g.fibers[waiting].site) +
                              ", " + thread_name(g, t) + " at " + where(g.fibers[t].site);
                    return false;
                }
            } else if (done < 0) {
                done = t;
            }
        }
        if (nwaiting == 0) return true;
        if (done >= 0) {
            g.error = where(g.fibers[waiting].site) + " reached after " + thread_name(g, done) +
                      " returned: every thread of a threadgroup must reach each threadgroup_barrier";
            return false;
        }
        for (int t = 0; t < g.nthreads; t++) g.fibers[t].state = kRunnable;
        if (g.order == 2) {
            g.rng.shuffle(g.sg_order);
            g.rng.shuffle(g.lane_order);
        }
    }
}

}  // namespace

// ---- called from kernels (on fibers) ----------------------------------------------------------------------

void msl::collective(const Site& site, const void* in, void* out, CollectiveFn fn) {
    Group& g = *tl_group;
    int t = g.current;
    int sg = t / kSimdWidth, first = sg * kSimdWidth, n = g.lanes_in(sg);
    Fiber& f = g.fibers[t];
    for (int l = 0; l < n; l++) {
        if (g.fibers[first + l].state == kDone) {
            fail_here(g, thread_name(g, t) + " reached " + where(site) + " after " + thread_name(g, first + l) +
                             " returned: every lane of a SIMD-group must reach a collective");
        }
    }
    f.site = site;
    f.in = in;
    f.out = out;
    f.fn = fn;
    f.state = kAtCollective;
    if (++g.arrived[sg] == n) {
        const void* ins[kSimdWidth];
        void* outs[kSimdWidth];
        for (int l = 0; l < n; l++) {
            const Fiber& o = g.fibers[first + l];
            if (!same_site(o.site, site)) {
                fail_here(g, "divergent SIMD-group collective: " + thread_name(g, first + l) + " reached " + where(o.site) +
                                 ", " + thread_name(g, t) + " reached " + where(site));
            }
            ins[l] = o.in;
            outs[l] = o.out;
        }
        g.arrived[sg] = 0;
        fn(ins, outs, n);
        for (int l = 0; l < n; l++) g.fibers[first + l].state = kRunnable;
    }
    to_scheduler(g);
}

void msl::barrier(const Site& site) {
    Group& g = *tl_group;
    Fiber& f = g.fibers[g.current];
    int sg = g.current / kSimdWidth;
    if (g.arrived[sg] > 0) {
        int first = sg * kSimdWidth;
        for (int l = 0; l < g.lanes_in(sg); l++) {
            if (g.fibers[first + l].state == kAtCollective) {
                fail_here(g, "deadlock: " + thread_name(g, g.current) + " reached " + where(site) + " while " +
                                 thread_name(g, first + l) + " waits at " + where(g.fibers[first + l].site));
            }
        }
    }
    f.site = site;
    f.state = kAtBarrier;
    to_scheduler(g);
}

void msl::fail(const char* message) {
    fail_here(*tl_group, message);
}

// ---- half conversions ----------------------------------------------------------------------------------------
// clang 14 lowers __fp16 <-> float conversions on x86-64 to these compiler-rt helpers, which neither libgcc nor
// glibc provide; IEEE binary16 with round-to-nearest-even, as Metal converts.

extern "C" __attribute__((visibility("hidden"))) float __gnu_h2f_ieee(unsigned short h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | (man << 13);  // inf / NaN
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {  // subnormal: normalise
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while ((man & 0x400u) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

extern "C" __attribute__((visibility("hidden"))) unsigned short __gnu_f2h_ieee(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t a = x & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (unsigned short)(sign | 0x7E00u | ((a >> 13) & 0x3FFu));  // NaN stays NaN
    if (a < 0x38800000u) {  // below the smallest normal half: subnormal or zero
        if (a < 0x33000000u) return (unsigned short)sign;  // rounds to zero (<= 2^-25)
        uint32_t man = (a & 0x7FFFFFu) | 0x800000u;
        int shift = 126 - (int)(a >> 23);  // value = man * 2^(e - 150) = half_man * 2^-24
        uint32_t half_man = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_man & 1u))) half_man++;
        return (unsigned short)(sign | half_man);
    }
    uint32_t r = a + 0xFFFu + ((a >> 13) & 1u);  // round mantissa to 10 bits, ties to even
    r -= 0x38000000u;                             // rebias exponent 127 -> 15
    if (r >= 0x0F800000u) return (unsigned short)(sign | 0x7C00u);  // overflow to infinity
    return (unsigned short)(sign | (r >> 13));
}

// ---- C entry points for Java (ShimDevice) ------------------------------------------------------------------

extern "C" {

// Mirrors ShimDevice.DISPATCH_LAYOUT.
struct shim_dispatch {
    uint32_t grid[3];
    uint32_t threads[3];
    uint32_t order;  // 0 forward, 1 reverse, 2 random (seed)
    uint32_t bytes_mask;
    uint64_t seed;
    void* buffers[31];
    uint64_t lengths[31];
    uint32_t tgmem[8];
};

__attribute__((visibility("default"))) long shim_dispatch_layout(int field) {
    switch (field) {
        case 0: return (long)sizeof(shim_dispatch);
        case 1: return (long)offsetof(shim_dispatch, grid);
        case 2: return (long)offsetof(shim_dispatch, threads);
        case 3: return (long)offsetof(shim_dispatch, order);
        case 4: return (long)offsetof(shim_dispatch, bytes_mask);
        case 5: return (long)offsetof(shim_dispatch, seed);
        case 6: return (long)offsetof(shim_dispatch, buffers);
        case 7: return (long)offsetof(shim_dispatch, lengths);
        case 8: return (long)offsetof(shim_dispatch, tgmem);
        default: return -1;
    }
}

__attribute__((visibility("default"))) int shim_kernel_count(void) { return msl_kernel_count; }

__attribute__((visibility("default"))) const char* shim_kernel_name(int i) {
    return i >= 0 && i < msl_kernel_count ? msl_kernel_table[i].name : nullptr;
}

static int report(char* err, int errlen, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen > 0) vsnprintf(err, (size_t)errlen, fmt, ap);
    va_end(ap);
    return 1;
}

// Runs one dispatch to completion. Returns 0, or 1 with a message in err.
__attribute__((visibility("default"))) int shim_run(const char* name, const shim_dispatch* d, char* err, int errlen) {
    const msl::KernelEntry* k = nullptr;
    for (int i = 0; i < msl_kernel_count; i++) {
        if (strcmp(msl_kernel_table[i].name, name) == 0) k = &msl_kernel_table[i];
    }
    if (!k) return report(err, errlen, "no kernel named %s in the shim library", name);
    uint64_t nthreads = (uint64_t)d->threads[0] * d->threads[1] * d->threads[2];
    if (nthreads == 0 || nthreads > (uint64_t)kMaxThreads) {
        return report(err, errlen, "%s: threadsPerThreadgroup %ux%ux%u: the product must be 1..%d", name, d->threads[0],
                      d->threads[1], d->threads[2], kMaxThreads);
    }
    uint64_t ngroups = (uint64_t)d->grid[0] * d->grid[1] * d->grid[2];
    if (ngroups == 0) return 0;

    uint32_t tg_total = 0;
    for (int i = 0; i < 8; i++) {
        if (d->tgmem[i] % 16 != 0) {
            return report(err, errlen, "%s: threadgroup memory length %u at index %d is not a multiple of 16", name, d->tgmem[i], i);
        }
        tg_total += d->tgmem[i];
    }
    if (tg_total > kMaxThreadgroupMemory) {
        return report(err, errlen, "%s: %u bytes of threadgroup memory, more than %u", name, tg_total, kMaxThreadgroupMemory);
    }
    for (int p = 0; p < k->nparams; p++) {
        const msl::ParamCheck& c = k->params[p];
        if (c.kind == 2) {
            if (d->tgmem[c.index] == 0) return report(err, errlen, "%s: no threadgroup memory set for '%s'", name, c.text);
            continue;
        }
        if (!d->buffers[c.index]) return report(err, errlen, "%s: nothing bound at buffer(%d) for '%s'", name, c.index, c.text);
        if (c.kind == 1) {
            bool exact = (d->bytes_mask >> c.index) & 1;
            if (exact ? d->lengths[c.index] != c.size : d->lengths[c.index] < c.size) {
                return report(err, errlen, "%s: '%s' is a %zu-byte struct but %llu bytes are bound at buffer(%d)", name, c.text, c.size,
                              (unsigned long long)d->lengths[c.index], c.index);
            }
        }
    }

    std::string stack_err;
    if (!tl_stacks.ensure((size_t)nthreads, stack_err)) return report(err, errlen, "%s: %s", name, stack_err.c_str());

    Group g;
    g.kernel = k;
    g.nthreads = (int)nthreads;
    g.nsg = (int)((nthreads + kSimdWidth - 1) / kSimdWidth);
    g.fibers.resize(nthreads);
    g.arrived.assign(g.nsg, 0);
    g.order = (int)d->order;
    g.rng.s = d->seed;

    std::vector<std::vector<unsigned char>> tgmem(8);
    void* tgptr[8] = {};
    for (int i = 0; i < 8; i++) {
        if (d->tgmem[i]) {
            tgmem[i].resize(d->tgmem[i]);
            tgptr[i] = tgmem[i].data();
        }
    }
    g.launch.buffers = d->buffers;
    g.launch.lengths = d->lengths;
    g.launch.bytes_mask = d->bytes_mask;
    g.launch.tgmem = tgptr;
    g.launch.tgmem_len = d->tgmem;

    const uint32_t* tpg = d->threads;
    std::vector<uint64_t> group_order;
    bool permuted = g.order != 0 && ngroups <= (1u << 24);
    if (permuted) {
        group_order.resize(ngroups);
        for (uint64_t i = 0; i < ngroups; i++) group_order[i] = g.order == 1 ? ngroups - 1 - i : i;
        if (g.order == 2) {
            for (uint64_t i = ngroups; i > 1; i--) {
                uint64_t j = g.rng.next() % i;
                uint64_t t = group_order[i - 1];
                group_order[i - 1] = group_order[j];
                group_order[j] = t;
            }
        }
    }

    Group* saved = tl_group;
    tl_group = &g;
    int rc = 0;
    for (uint64_t gi = 0; gi < ngroups; gi++) {
        uint64_t lin = permuted ? group_order[gi] : gi;
        uint32_t gp[3] = {(uint32_t)(lin % d->grid[0]), (uint32_t)(lin / d->grid[0] % d->grid[1]),
                          (uint32_t)(lin / ((uint64_t)d->grid[0] * d->grid[1]))};
        for (int i = 0; i < 8; i++) {
            if (tgptr[i]) memset(tgptr[i], 0xFF, d->tgmem[i]);
        }
        for (uint32_t t = 0; t < nthreads; t++) {
            msl::Ids& id = g.fibers[t].ids;
            uint32_t tp[3] = {t % tpg[0], t / tpg[0] % tpg[1], t / (tpg[0] * tpg[1])};
            for (int a = 0; a < 3; a++) {
                id.threadgroup_position_in_grid[a] = gp[a];
                id.thread_position_in_threadgroup[a] = tp[a];
                id.thread_position_in_grid[a] = gp[a] * tpg[a] + tp[a];
                id.threads_per_threadgroup[a] = tpg[a];
                id.threadgroups_per_grid[a] = d->grid[a];
                id.threads_per_grid[a] = d->grid[a] * tpg[a];
            }
            id.thread_index_in_threadgroup = t;
            id.simdgroup_index_in_threadgroup = t / kSimdWidth;
            id.thread_index_in_simdgroup = t % kSimdWidth;
            id.threads_per_simdgroup = kSimdWidth;
            id.simdgroups_per_threadgroup = (uint32_t)g.nsg;
        }
        if (!run_group(g)) {
            rc = report(err, errlen, "%s, threadgroup (%u,%u,%u): %s", name, gp[0], gp[1], gp[2], g.error.c_str());
            break;
        }
    }
    tl_group = saved;
    return rc;
}

}  // extern "C"
