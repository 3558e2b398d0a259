package io.strata.metal.objc;

import io.strata.metal.Device;
import io.strata.metal.KernelSource;
import io.strata.metal.objc.ObjC.Sel;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.HashMap;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The real GPU: {@code MTLCreateSystemDefaultDevice}, Strata's kernels compiled from source
 * ({@link KernelSource#libraryText()}), one compute pipeline per kernel, one command queue, shared-storage buffers
 * and zero-copy wraps of host memory. Objects we create ({@code new...}) are released on close; objects the
 * framework returns autoreleased are created inside an autorelease pool and retained if kept (Java threads have
 * no ambient pool). macOS on Apple silicon only ({@link ObjC#isSupportedPlatform()}).
 */
public final class MetalDevice implements Device {

    /** {@code MTLResourceStorageModeShared}: CPU and GPU share the memory (unified memory). */
    static final long STORAGE_MODE_SHARED = 0;
    /** {@code MTLGPUFamilyApple7} (M1 and later): SIMD-group matrices. */
    static final long GPU_FAMILY_APPLE7 = 1007;
    /** {@code MTLCommandBufferStatusCompleted} and {@code ...Error}. */
    static final long STATUS_COMPLETED = 4;
    static final long STATUS_ERROR = 5;
    /** VM page size on Apple silicon; {@code newBufferWithBytesNoCopy} needs it for pointer and length. */
    static final long PAGE = 16384;

    private final MemorySegment device;
    private final MemorySegment queue;
    private final MemorySegment library;
    private final String name;
    private final long maxBufferLength;
    private final long workingSet;
    private final boolean apple7;
    private final Map<String, Pipeline> pipelines = new HashMap<>();
    private boolean closed;

    private MetalDevice(MemorySegment device) {
        this.device = device;
        MemorySegment pool = ObjC.pushPool();
        try {
            this.name = ObjC.string(ObjC.sendId(device, Sel.NAME));
            this.maxBufferLength = ObjC.sendULong(device, Sel.MAX_BUFFER_LENGTH);
            this.workingSet = ObjC.sendULong(device, Sel.RECOMMENDED_MAX_WORKING_SET_SIZE);
            this.apple7 = ObjC.sendBool(device, Sel.SUPPORTS_FAMILY, GPU_FAMILY_APPLE7);
        } finally {
            ObjC.popPool(pool);
        }
        this.queue = ObjC.sendId(device, Sel.NEW_COMMAND_QUEUE);
        if (queue.address() == 0) {
            throw new IllegalStateException("Metal device " + name + ": newCommandQueue returned nil");
        }
        this.library = compile(device, name);
    }

    /** The system's default Metal device with Strata's kernels compiled. */
    public static MetalDevice open() {
        if (!ObjC.isSupportedPlatform()) {
            throw new UnsupportedOperationException("the Metal backend needs macOS on Apple silicon; this is "
                    + System.getProperty("os.name") + " " + System.getProperty("os.arch") + " (use --backend cpu)");
        }
        MemorySegment d = Framework.createSystemDefaultDevice();
        if (d.address() == 0) {
            throw new IllegalStateException("MTLCreateSystemDefaultDevice returned nil: no Metal device available");
        }
        return new MetalDevice(d);
    }

    /** Metal.framework, and CoreGraphics, which must be loaded for the default device to be found. */
    static final class Framework {
        private static final MethodHandle CREATE_DEVICE;

        static {
            SymbolLookup.libraryLookup("/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics", Arena.global());
            SymbolLookup metal = SymbolLookup.libraryLookup("/System/Library/Frameworks/Metal.framework/Metal", Arena.global());
            CREATE_DEVICE = Linker.nativeLinker().downcallHandle(
                    metal.find("MTLCreateSystemDefaultDevice").orElseThrow(() -> new IllegalStateException("Metal.framework has no MTLCreateSystemDefaultDevice")),
                    FunctionDescriptor.of(ADDRESS));
        }

        static MemorySegment createSystemDefaultDevice() {
            try {
                return (MemorySegment) CREATE_DEVICE.invokeExact();
            } catch (Throwable t) {
                throw new IllegalStateException("MTLCreateSystemDefaultDevice failed", t);
            }
        }
    }

    private static MemorySegment compile(MemorySegment device, String deviceName) {
        MemorySegment pool = ObjC.pushPool();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment source = ObjC.nsString(arena, KernelSource.libraryText());
            MemorySegment options = ObjC.sendId(ObjC.sendId(ObjC.cls("MTLCompileOptions"), Sel.ALLOC), Sel.INIT);
            MemorySegment error = arena.allocate(ADDRESS);
            error.set(ADDRESS, 0, MemorySegment.NULL);
            MemorySegment lib = ObjC.sendId(device, Sel.NEW_LIBRARY_WITH_SOURCE, source, options, error);
            ObjC.sendVoid(options, Sel.RELEASE);
            if (lib.address() == 0) {
                throw new IllegalStateException("Metal compiler rejected Strata's kernels on " + deviceName + ": "
                        + ObjC.describe(error.get(ADDRESS, 0)));
            }
            return lib;
        } finally {
            ObjC.popPool(pool);
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long maxBufferLength() {
        return maxBufferLength;
    }

    @Override
    public long recommendedMaxWorkingSetSize() {
        return workingSet;
    }

    @Override
    public long pageSize() {
        return PAGE;
    }

    @Override
    public boolean supportsSimdgroupMatrix() {
        return apple7;
    }

    private static final class Buffer implements DeviceBuffer {
        final MemorySegment id;
        final MemorySegment contents;
        boolean released;

        Buffer(MemorySegment id, long length) {
            this.id = id;
            this.contents = ObjC.sendId(id, Sel.CONTENTS).reinterpret(length);
        }

        @Override
        public long length() {
            return contents.byteSize();
        }

        @Override
        public MemorySegment contents() {
            if (released) {
                throw new IllegalStateException("Metal buffer used after release");
            }
            return contents;
        }

        @Override
        public synchronized void release() {
            if (!released) {
                released = true;
                ObjC.sendVoid(id, Sel.RELEASE);
            }
        }
    }

    @Override
    public DeviceBuffer newBuffer(long bytes) {
        if (bytes <= 0 || bytes > maxBufferLength) {
            throw new IllegalArgumentException("Metal buffer of " + bytes + " bytes: must be 1.." + maxBufferLength + " (maxBufferLength of " + name + ")");
        }
        MemorySegment b = ObjC.sendId(device, Sel.NEW_BUFFER_WITH_LENGTH, bytes, STORAGE_MODE_SHARED);
        if (b.address() == 0) {
            throw new IllegalStateException("newBufferWithLength:" + bytes + " returned nil on " + name + " (out of memory?)");
        }
        Buffer buf = new Buffer(b, bytes);
        buf.contents.fill((byte) 0);
        return buf;
    }

    @Override
    public DeviceBuffer wrap(MemorySegment region) {
        if (region.address() % PAGE != 0 || region.byteSize() % PAGE != 0 || region.byteSize() == 0
                || region.byteSize() > maxBufferLength) {
            throw new IllegalArgumentException("newBufferWithBytesNoCopy needs a page-aligned region of at most maxBufferLength: address 0x"
                    + Long.toHexString(region.address()) + ", length " + region.byteSize());
        }
        MemorySegment b = ObjC.sendId(device, Sel.NEW_BUFFER_NO_COPY, region, region.byteSize(), STORAGE_MODE_SHARED, MemorySegment.NULL);
        return b.address() == 0 ? null : new Buffer(b, region.byteSize());
    }

    @Override
    public synchronized Pipeline pipeline(String kernel) {
        Pipeline p = pipelines.get(kernel);
        if (p != null) {
            return p;
        }
        MemorySegment pool = ObjC.pushPool();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fn = ObjC.sendId(library, Sel.NEW_FUNCTION_WITH_NAME, ObjC.nsString(arena, kernel));
            if (fn.address() == 0) {
                throw new IllegalArgumentException("no kernel named " + kernel + " in Strata's Metal library");
            }
            MemorySegment error = arena.allocate(ADDRESS);
            error.set(ADDRESS, 0, MemorySegment.NULL);
            MemorySegment pso = ObjC.sendId(device, Sel.NEW_PIPELINE_WITH_FUNCTION, fn, error);
            ObjC.sendVoid(fn, Sel.RELEASE);
            if (pso.address() == 0) {
                throw new IllegalStateException("cannot build the compute pipeline of " + kernel + " on " + name + ": "
                        + ObjC.describe(error.get(ADDRESS, 0)));
            }
            p = new Pipeline(kernel, (int) ObjC.sendULong(pso, Sel.MAX_TOTAL_THREADS_PER_THREADGROUP),
                    (int) ObjC.sendULong(pso, Sel.THREAD_EXECUTION_WIDTH), pso);
            pipelines.put(kernel, p);
            return p;
        } finally {
            ObjC.popPool(pool);
        }
    }

    @Override
    public Commands beginCommands() {
        return new MetalCommands();
    }

    /** One command buffer with one (serial) compute encoder: dispatches run in order, each after the previous. */
    private final class MetalCommands implements Commands {
        private final Arena arena = Arena.ofShared();
        private final MemorySegment groups = arena.allocate(ObjC.MTL_SIZE);
        private final MemorySegment threads = arena.allocate(ObjC.MTL_SIZE);
        private final MemorySegment commandBuffer;
        private final MemorySegment encoder;
        private boolean done;

        MetalCommands() {
            MemorySegment pool = ObjC.pushPool();
            try {
                commandBuffer = ObjC.sendId(ObjC.sendId(queue, Sel.COMMAND_BUFFER), Sel.RETAIN);
                encoder = ObjC.sendId(ObjC.sendId(commandBuffer, Sel.COMPUTE_COMMAND_ENCODER), Sel.RETAIN);
            } finally {
                ObjC.popPool(pool);
            }
        }

        @Override
        public void setPipeline(Pipeline p) {
            ObjC.sendVoid(encoder, Sel.SET_COMPUTE_PIPELINE_STATE, (MemorySegment) p.handle());
        }

        @Override
        public void setBuffer(DeviceBuffer buffer, long offset, int index) {
            ObjC.sendVoid(encoder, Sel.SET_BUFFER, ((Buffer) buffer).id, offset, index);
        }

        @Override
        public void setBytes(MemorySegment bytes, int index) {
            ObjC.sendVoid(encoder, Sel.SET_BYTES, bytes, bytes.byteSize(), index);
        }

        @Override
        public void setThreadgroupMemoryLength(int bytes, int index) {
            ObjC.sendVoid(encoder, Sel.SET_THREADGROUP_MEMORY_LENGTH, bytes, index);
        }

        @Override
        public void dispatchThreadgroups(int gx, int gy, int gz, int tx, int ty, int tz) {
            groups.set(JAVA_LONG, 0, gx);
            groups.set(JAVA_LONG, 8, gy);
            groups.set(JAVA_LONG, 16, gz);
            threads.set(JAVA_LONG, 0, tx);
            threads.set(JAVA_LONG, 8, ty);
            threads.set(JAVA_LONG, 16, tz);
            ObjC.sendSizes(encoder, Sel.DISPATCH_THREADGROUPS, groups, threads);
        }

        @Override
        public void commitAndWait() {
            if (done) {
                throw new IllegalStateException("command buffer committed twice");
            }
            done = true;
            try {
                ObjC.sendVoid(encoder, Sel.END_ENCODING);
                ObjC.sendVoid(commandBuffer, Sel.COMMIT);
                ObjC.sendVoid(commandBuffer, Sel.WAIT_UNTIL_COMPLETED);
                long status = ObjC.sendULong(commandBuffer, Sel.STATUS);
                if (status != STATUS_COMPLETED) {
                    MemorySegment pool = ObjC.pushPool();
                    try {
                        throw new IllegalStateException("Metal command buffer on " + name + " ended with status " + status
                                + (status == STATUS_ERROR ? " (error)" : "") + ": " + ObjC.describe(ObjC.sendId(commandBuffer, Sel.ERROR)));
                    } finally {
                        ObjC.popPool(pool);
                    }
                }
            } finally {
                ObjC.sendVoid(encoder, Sel.RELEASE);
                ObjC.sendVoid(commandBuffer, Sel.RELEASE);
                arena.close();
            }
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Pipeline p : pipelines.values()) {
            ObjC.sendVoid((MemorySegment) p.handle(), Sel.RELEASE);
        }
        pipelines.clear();
        ObjC.sendVoid(library, Sel.RELEASE);
        ObjC.sendVoid(queue, Sel.RELEASE);
        ObjC.sendVoid(device, Sel.RELEASE);
    }
}
