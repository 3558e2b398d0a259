package io.strata.engine.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * Native memory for interleaved weights backed by transparent huge pages where Linux allows it.
 *
 * <p>Why: the kernels stream weights once per token. With 4 KiB pages the hardware prefetchers stop at every page
 * boundary and the core waits for each new page's first lines; with 2 MiB pages they run ahead across the whole
 * stream. Linux backs anonymous memory with huge pages only after {@code madvise(MADV_HUGEPAGE)} when
 * {@code /sys/kernel/mm/transparent_hugepage/enabled} is {@code madvise} (the common default), and only pages
 * touched after the advice. So the memory is mapped with {@code mmap}, advised, and only then written.
 *
 * <p>Elsewhere (another OS, a refused call) it falls back to the arena's ordinary allocation.
 */
public final class HugePages {

    private static final long HUGE = 2L << 20;
    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;
    private static final int MADV_HUGEPAGE = 14, MADV_DONTNEED = 4;
    private static final MethodHandle MMAP, MUNMAP, MADVISE;

    static {
        MethodHandle mmap = null, munmap = null, madvise = null;
        if (System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            try {
                Linker linker = Linker.nativeLinker();
                var libc = linker.defaultLookup();
                mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.ADDRESS,
                        ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
                munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
                madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            } catch (RuntimeException | Error e) {
                mmap = munmap = madvise = null;
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
    }

    private HugePages() {
    }

    /** An allocator of huge-page-advised memory whose lifetime is {@code arena}'s (unmapped when it closes). */
    public static SegmentAllocator allocator(Arena arena) {
        return (bytes, alignment) -> allocate(bytes, alignment, arena);
    }

    /**
     * {@code bytes} of zeroed memory, aligned to {@code alignment} (at most 2 MiB), huge-page advised when possible,
     * released when {@code arena} closes.
     */
    public static MemorySegment allocate(long bytes, long alignment, Arena arena) {
        if (MMAP == null || alignment > HUGE || bytes < HUGE) return arena.allocate(bytes, alignment);
        long len = (bytes + HUGE - 1) / HUGE * HUGE;
        try {
            // Map one huge page more than needed and start at the first 2 MiB boundary.
            MemorySegment raw = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, len + HUGE,
                    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
            if (raw.address() == -1L) return arena.allocate(bytes, alignment);
            long start = (raw.address() + HUGE - 1) / HUGE * HUGE;
            MemorySegment whole = raw.reinterpret(len + HUGE, arena, s -> unmap(s));
            MemorySegment seg = whole.asSlice(start - raw.address(), len);
            int rc = (int) MADVISE.invokeExact(seg, len, MADV_HUGEPAGE);
            // Anonymous pages are already zero; an advice refused (rc != 0) leaves ordinary pages, which also work.
            return seg.asSlice(0, bytes);
        } catch (Throwable t) {
            return arena.allocate(bytes, alignment);
        }
    }

    /**
     * Advises huge pages for a map of a file ({@code madvise(MADV_HUGEPAGE)}; {@code map} must start on a page, as
     * {@code FileChannel.map} segments do). Linux then fills the page cache with 2 MiB folios when a fault misses
     * and maps them whole where the map and the file agree modulo 2 MiB (which the kernel arranges for maps of 2 MiB
     * and more); pages already cached stay the size they are. Best effort: false where refused or unavailable.
     */
    public static boolean adviseFile(MemorySegment map) {
        if (MADVISE == null || map.byteSize() < HUGE || map.address() % 4096 != 0) return false;
        try {
            return (int) MADVISE.invokeExact(map, map.byteSize(), MADV_HUGEPAGE) == 0;
        } catch (Throwable t) {
            return false;
        }
    }

    /**
     * Drops the pages of {@code seg}, a slice of a read-only shared map of a file, from this process
     * ({@code madvise(MADV_DONTNEED)} on the whole pages inside it): its resident memory no longer counts them, the page
     * cache keeps them for whoever else reads the file, and a later read faults them back in unchanged. Linux only (on
     * other systems the advice's meaning differs); false where not done.
     */
    public static boolean dropFilePages(MemorySegment seg) {
        if (MADVISE == null) return false;
        long start = (seg.address() + 4095) / 4096 * 4096;
        long end = (seg.address() + seg.byteSize()) / 4096 * 4096;
        if (end <= start) return false;
        try {
            return (int) MADVISE.invokeExact(MemorySegment.ofAddress(start), end - start, MADV_DONTNEED) == 0;
        } catch (Throwable t) {
            return false;
        }
    }

    private static void unmap(MemorySegment s) {
        try {
            int rc = (int) MUNMAP.invokeExact(s, s.byteSize());
        } catch (Throwable t) {
            throw new IllegalStateException("munmap failed", t);
        }
    }
}
