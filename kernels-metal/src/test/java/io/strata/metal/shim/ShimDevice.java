package io.strata.metal.shim;

import io.strata.metal.Device;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A {@link Device} that runs the kernels of a shim library ({@link ShimBuild}) on the CPU, one threadgroup of
 * fibers at a time, under a chosen {@link Schedule}. It checks what a GPU would not report: writes past the end
 * of a buffer (a 0xFF guard after every allocation is verified after each dispatch), reads past the end (the
 * guard reads as NaN), {@link #wrap} regions that are not page-aligned, offsets beyond a buffer. Unlike Metal, it
 * forgets every binding after each dispatch, so a dispatch that relies on a binding left over from an earlier one
 * fails here instead of silently reading the wrong buffer.
 */
public final class ShimDevice implements Device {

    /** How threadgroups, SIMD-groups and lanes are ordered: 0 forward, 1 reverse, 2 random (seeded). */
    public record Schedule(int order, long seed, boolean rotate) {
        public static final Schedule FORWARD = new Schedule(0, 0, false);
        public static final Schedule REVERSE = new Schedule(1, 0, false);

        public static Schedule random(long seed) {
            return new Schedule(2, seed, false);
        }

        /** Dispatch k of the device runs with order {@code k % 3} and seed {@code seed + k}. */
        public static Schedule rotating(long seed) {
            return new Schedule(0, seed, true);
        }

        /** The schedules every kernel test runs under. */
        public static List<Schedule> standard() {
            return List.of(FORWARD, REVERSE, random(7), random(1234567));
        }

        @Override
        public String toString() {
            return rotate ? "rotating(" + seed + ")" : switch (order) {
                case 0 -> "forward";
                case 1 -> "reverse";
                default -> "random(" + seed + ")";
            };
        }
    }

    static final StructLayout DISPATCH = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(3, JAVA_INT).withName("grid"),
            MemoryLayout.sequenceLayout(3, JAVA_INT).withName("threads"),
            JAVA_INT.withName("order"),
            JAVA_INT.withName("bytes_mask"),
            JAVA_LONG.withName("seed"),
            MemoryLayout.sequenceLayout(31, ADDRESS).withName("buffers"),
            MemoryLayout.sequenceLayout(31, JAVA_LONG).withName("lengths"),
            MemoryLayout.sequenceLayout(8, JAVA_INT).withName("tgmem"));
    private static final long GRID = DISPATCH.byteOffset(MemoryLayout.PathElement.groupElement("grid"));
    private static final long THREADS = DISPATCH.byteOffset(MemoryLayout.PathElement.groupElement("threads"));
    private static final long ORDER = DISPATCH.byteOffset(MemoryLayout.PathElement.groupElement("order"));
    private static final long BYTES_MASK = DISPATCH.byteOffset(MemoryLayout.PathElement.groupElement("bytes_mask"));
    private static final long SEED = DISPATCH.byteOffset(MemoryLayout.PathElement.groupElement("seed"));
    private static final long BUFFERS = DISPATCH.byteOffset(MemoryLayout.PathElement.groupElement("buffers"));
    private static final long LENGTHS = DISPATCH.byteOffset(MemoryLayout.PathElement.groupElement("lengths"));
    private static final long TGMEM = DISPATCH.byteOffset(MemoryLayout.PathElement.groupElement("tgmem"));

    static final int GUARD = 256;
    static final long PAGE = 4096;

    /** A loaded shim library and its entry points. */
    public static final class Library {
        final Path path;
        final MethodHandle run;
        final MethodHandle layout;
        final Set<String> kernels = new HashSet<>();

        private Library(Path path) {
            this.path = path;
            SymbolLookup lookup = SymbolLookup.libraryLookup(path, Arena.global());
            Linker linker = Linker.nativeLinker();
            run = linker.downcallHandle(find(lookup, "shim_run"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT));
            layout = linker.downcallHandle(find(lookup, "shim_dispatch_layout"), FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
            MethodHandle count = linker.downcallHandle(find(lookup, "shim_kernel_count"), FunctionDescriptor.of(JAVA_INT));
            MethodHandle name = linker.downcallHandle(find(lookup, "shim_kernel_name"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
            try {
                int n = (int) count.invokeExact();
                for (int i = 0; i < n; i++) {
                    MemorySegment s = (MemorySegment) name.invokeExact(i);
                    kernels.add(s.reinterpret(Long.MAX_VALUE).getString(0));
                }
            } catch (Throwable t) {
                throw new IllegalStateException("reading the kernel table of " + path, t);
            }
        }

        private static MemorySegment find(SymbolLookup lookup, String symbol) {
            return lookup.find(symbol).orElseThrow(() -> new IllegalStateException("shim library lacks " + symbol));
        }

        /** {@code offsetof} / {@code sizeof} of the C dispatch struct: field 0 is the size, 1.. the fields in order. */
        public long layout(int field) {
            try {
                return (long) layout.invokeExact(field);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        public Set<String> kernels() {
            return Set.copyOf(kernels);
        }

        private static final Map<Path, Library> LOADED = new ConcurrentHashMap<>();

        public static Library load(Path path) {
            return LOADED.computeIfAbsent(path, Library::new);
        }
    }

    private final Library library;
    private final long maxBufferLength;
    private Schedule schedule;
    private long dispatches;
    private final Map<String, Pipeline> pipelines = new ConcurrentHashMap<>();
    private final List<ShimBuffer> live = new ArrayList<>();

    public ShimDevice(Library library, Schedule schedule, long maxBufferLength) {
        this.library = library;
        this.schedule = schedule;
        this.maxBufferLength = maxBufferLength;
    }

    public void schedule(Schedule s) {
        this.schedule = s;
    }

    public Schedule schedule() {
        return schedule;
    }

    /** Number of dispatches run so far. */
    public long dispatches() {
        return dispatches;
    }

    @Override
    public String name() {
        return "CPU shim (" + library.path.getFileName() + ", " + schedule + ")";
    }

    @Override
    public long maxBufferLength() {
        return maxBufferLength;
    }

    @Override
    public long recommendedMaxWorkingSetSize() {
        return Runtime.getRuntime().maxMemory();
    }

    @Override
    public long pageSize() {
        return PAGE;
    }

    @Override
    public boolean supportsSimdgroupMatrix() {
        return true;
    }

    @Override
    public synchronized DeviceBuffer newBuffer(long bytes) {
        if (bytes <= 0 || bytes > maxBufferLength) {
            throw new IllegalArgumentException("buffer of " + bytes + " bytes: must be 1.." + maxBufferLength + " (maxBufferLength)");
        }
        Arena arena = Arena.ofShared();
        MemorySegment all = arena.allocate(bytes + GUARD, 256);
        all.asSlice(bytes).fill((byte) 0xFF);
        ShimBuffer b = new ShimBuffer(all.asSlice(0, bytes), all.asSlice(bytes, GUARD), arena);
        live.add(b);
        return b;
    }

    @Override
    public DeviceBuffer wrap(MemorySegment region) {
        if (region.address() % PAGE != 0 || region.byteSize() % PAGE != 0 || region.byteSize() == 0) {
            throw new IllegalArgumentException("newBufferWithBytesNoCopy needs a page-aligned region: address 0x"
                    + Long.toHexString(region.address()) + ", length " + region.byteSize() + ", page " + PAGE);
        }
        if (region.byteSize() > maxBufferLength) {
            throw new IllegalArgumentException("region of " + region.byteSize() + " bytes exceeds maxBufferLength " + maxBufferLength);
        }
        return new ShimBuffer(region, null, null);
    }

    @Override
    public Pipeline pipeline(String kernel) {
        return pipelines.computeIfAbsent(kernel, k -> {
            if (!library.kernels.contains(k)) {
                throw new IllegalArgumentException("no kernel named " + k + " in " + library.path);
            }
            return new Pipeline(k, 1024, 32, k);
        });
    }

    @Override
    public Commands beginCommands() {
        return new ShimCommands();
    }

    @Override
    public synchronized void close() {
        for (ShimBuffer b : List.copyOf(live)) {
            b.release();
        }
    }

    final class ShimBuffer implements DeviceBuffer {
        final MemorySegment contents;
        final MemorySegment guard;
        final Arena arena;
        boolean released;

        ShimBuffer(MemorySegment contents, MemorySegment guard, Arena arena) {
            this.contents = contents;
            this.guard = guard;
            this.arena = arena;
        }

        @Override
        public long length() {
            return contents.byteSize();
        }

        @Override
        public MemorySegment contents() {
            if (released) {
                throw new IllegalStateException("buffer used after release");
            }
            return contents;
        }

        @Override
        public void release() {
            synchronized (ShimDevice.this) {
                if (!released) {
                    released = true;
                    live.remove(this);
                    if (arena != null) {
                        arena.close();
                    }
                }
            }
        }

        boolean guardIntact() {
            if (guard == null) {
                return true;
            }
            for (long i = 0; i < GUARD; i += 8) {
                if (guard.get(ValueLayout.JAVA_LONG_UNALIGNED, i) != -1L) {
                    return false;
                }
            }
            return true;
        }
    }

    private record Binding(ShimBuffer buffer, long offset, MemorySegment bytes) {
    }

    private record Dispatch(String kernel, Binding[] bindings, int[] tgmem, int[] grid, int[] threads) {
    }

    private final class ShimCommands implements Commands {
        private final Arena arena = Arena.ofConfined();
        private final List<Dispatch> encoded = new ArrayList<>();
        private Pipeline pipeline;
        private Binding[] bindings = new Binding[31];
        private int[] tgmem = new int[8];
        private boolean done;

        @Override
        public void setPipeline(Pipeline p) {
            pipeline = p;
        }

        @Override
        public void setBuffer(DeviceBuffer buffer, long offset, int index) {
            ShimBuffer b = (ShimBuffer) buffer;
            if (offset < 0 || offset > b.length()) {
                throw new IllegalArgumentException("setBuffer offset " + offset + " outside a buffer of " + b.length() + " bytes (index " + index + ")");
            }
            bindings[index] = new Binding(b, offset, null);
        }

        @Override
        public void setBytes(MemorySegment bytes, int index) {
            MemorySegment copy = arena.allocate(bytes.byteSize(), 16);
            copy.copyFrom(bytes);
            bindings[index] = new Binding(null, 0, copy);
        }

        @Override
        public void setThreadgroupMemoryLength(int bytes, int index) {
            tgmem[index] = bytes;
        }

        @Override
        public void dispatchThreadgroups(int gx, int gy, int gz, int tx, int ty, int tz) {
            if (pipeline == null) {
                throw new IllegalStateException("dispatch without a pipeline");
            }
            encoded.add(new Dispatch(pipeline.name(), bindings, tgmem, new int[] {gx, gy, gz}, new int[] {tx, ty, tz}));
            bindings = new Binding[31];
            tgmem = new int[8];
        }

        @Override
        public void commitAndWait() {
            if (done) {
                throw new IllegalStateException("command buffer committed twice");
            }
            done = true;
            try {
                MemorySegment d = arena.allocate(DISPATCH);
                MemorySegment err = arena.allocate(2048);
                for (int i = 0; i < encoded.size(); i++) {
                    run(encoded.get(i), i, d, err);
                }
            } finally {
                arena.close();
            }
        }

        private void run(Dispatch x, int i, MemorySegment d, MemorySegment err) {
            d.fill((byte) 0);
            int mask = 0;
            for (int a = 0; a < 3; a++) {
                d.set(JAVA_INT, GRID + 4L * a, x.grid[a]);
                d.set(JAVA_INT, THREADS + 4L * a, x.threads[a]);
            }
            Schedule s = schedule;
            long k = dispatches++;
            d.set(JAVA_INT, ORDER, s.rotate() ? (int) (k % 3) : s.order());
            d.set(JAVA_LONG, SEED, s.rotate() ? s.seed() + k : s.seed());
            for (int b = 0; b < 31; b++) {
                Binding bind = x.bindings[b];
                if (bind == null) {
                    continue;
                }
                MemorySegment seg = bind.bytes != null ? bind.bytes : bind.buffer.contents();
                long off = bind.bytes != null ? 0 : bind.offset;
                d.set(ADDRESS, BUFFERS + 8L * b, MemorySegment.ofAddress(seg.address() + off));
                d.set(JAVA_LONG, LENGTHS + 8L * b, seg.byteSize() - off);
                if (bind.bytes != null) {
                    mask |= 1 << b;
                }
            }
            d.set(JAVA_INT, BYTES_MASK, mask);
            for (int t = 0; t < 8; t++) {
                d.set(JAVA_INT, TGMEM + 4L * t, x.tgmem[t]);
            }
            int rc;
            try {
                rc = (int) library.run.invokeExact(arena.allocateFrom(x.kernel), d, err, (int) err.byteSize());
            } catch (Throwable t) {
                throw new IllegalStateException("shim_run " + x.kernel, t);
            }
            if (rc != 0) {
                throw new IllegalStateException("dispatch " + i + " of the command buffer failed on the CPU shim (" + s + "): "
                        + err.getString(0));
            }
            for (int b = 0; b < 31; b++) {
                Binding bind = x.bindings[b];
                if (bind != null && bind.buffer != null && !bind.buffer.guardIntact()) {
                    throw new IllegalStateException(x.kernel + " wrote past the end of the buffer bound at buffer(" + b
                            + ") (" + bind.buffer.length() + " bytes, offset " + bind.offset + ")");
                }
            }
        }
    }
}
