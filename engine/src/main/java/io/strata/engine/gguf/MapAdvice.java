package io.strata.engine.gguf;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * {@code madvise(MADV_RANDOM)} over a file map, so that a page fault reads that page and not the
 * kernel's read-around window (8 MB on some machines). Without it, touching one layer's tensors pulls neighbouring
 * layers into memory, and a pipeline stage no longer holds only its own layers. Stages then prefetch exactly their
 * own tensors ({@code MemorySegment.load()}, i.e. {@code MADV_WILLNEED}).
 *
 * <p>Advice is best effort: where {@code madvise} is unavailable the map works as before.
 */
final class MapAdvice {
    private static final int MADV_RANDOM = 1; // same value on Linux and macOS
    private static final MethodHandle MADVISE = lookup();

    private MapAdvice() {
    }

    private static MethodHandle lookup() {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("madvise").map(addr -> linker.downcallHandle(addr,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))).orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** Advises random access for bytes {@code [from, map.byteSize())} of {@code map} (from the page holding {@code from}). */
    static boolean random(MemorySegment map, long from) {
        if (MADVISE == null) return false;
        long page = 16384; // a multiple of both 4 KiB (x86-64 Linux) and 16 KiB (Apple Silicon) pages
        long start = Math.max(map.address(), (map.address() + from) / page * page); // maps start page-aligned
        long end = map.address() + map.byteSize();
        if (end <= start) return false;
        try {
            return (int) MADVISE.invokeExact(MemorySegment.ofAddress(start), end - start, MADV_RANDOM) == 0;
        } catch (Throwable t) {
            return false;
        }
    }
}
