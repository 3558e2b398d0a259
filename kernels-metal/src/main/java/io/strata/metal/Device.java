package io.strata.metal;

import java.lang.foreign.MemorySegment;

/**
 * A GPU that runs Strata's Metal kernels: the real one ({@link io.strata.metal.objc.MetalDevice}, Objective-C
 * message sends through java.lang.foreign) or, in tests on Linux, the CPU shim that runs the same {@code .metal}
 * sources compiled with clang. {@link MetalBackend} and {@link Kernels} talk only to this interface, so the
 * dispatch code (argument structs, buffer bindings, offsets, grid sizes) is the same on both.
 */
public interface Device extends AutoCloseable {

    /** The device's name, e.g. {@code Apple M2 Max}. */
    String name();

    /** Largest single buffer the device accepts ({@code maxBufferLength}). */
    long maxBufferLength();

    /** Memory the device can use without hurting performance ({@code recommendedMaxWorkingSetSize}). */
    long recommendedMaxWorkingSetSize();

    /** Alignment of pointer and length that {@link #wrap} needs: the VM page size (16 KiB on Apple silicon). */
    long pageSize();

    /** Whether the {@code mul_mm_*} kernels can run (they use SIMD-group matrices, Apple7 family and later). */
    boolean supportsSimdgroupMatrix();

    /** A zero-filled buffer in shared (host-visible) memory of {@code bytes} bytes. */
    DeviceBuffer newBuffer(long bytes);

    /**
     * Wraps host memory without copying ({@code newBufferWithBytesNoCopy}). {@code region} must start on a
     * {@link #pageSize()} boundary, its length must be a multiple of it, and it must stay mapped as long as
     * the buffer lives. Returns null when the device refuses the region.
     */
    DeviceBuffer wrap(MemorySegment region);

    /** The compute pipeline of the kernel function {@code kernel}; throws when the library has no such kernel. */
    Pipeline pipeline(String kernel);

    /** Starts a command buffer with one compute encoder; dispatches run in the order they are encoded. */
    Commands beginCommands();

    @Override
    void close();

    /** A buffer the GPU reads and writes; {@link #contents()} is the host's view of the same memory. */
    interface DeviceBuffer {
        long length();

        /** Host view of the buffer (shared storage); valid until {@link #release()}. */
        MemorySegment contents();

        void release();
    }

    /**
     * A compiled kernel.
     *
     * @param name                 kernel function name
     * @param maxThreadsPerGroup   {@code maxTotalThreadsPerThreadgroup} of the pipeline
     * @param simdWidth            {@code threadExecutionWidth}
     * @param handle               the device's own object (an {@code id<MTLComputePipelineState>} or the shim's name)
     */
    record Pipeline(String name, int maxThreadsPerGroup, int simdWidth, Object handle) {
    }

    /** One command buffer being encoded (the methods mirror {@code MTLComputeCommandEncoder}). */
    interface Commands {
        void setPipeline(Pipeline p);

        void setBuffer(DeviceBuffer buffer, long offset, int index);

        /** Copies {@code bytes} now (as {@code setBytes:length:atIndex:}); the segment may be reused at once. */
        void setBytes(MemorySegment bytes, int index);

        void setThreadgroupMemoryLength(int bytes, int index);

        void dispatchThreadgroups(int gx, int gy, int gz, int tx, int ty, int tz);

        /** Ends encoding, commits and waits; throws with the device's error text when the command buffer failed. */
        void commitAndWait();
    }
}
