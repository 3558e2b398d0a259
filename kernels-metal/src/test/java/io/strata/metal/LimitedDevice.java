package io.strata.metal;

import java.lang.foreign.MemorySegment;

/**
 * A view of a device shared by many tests (compiling the library once): it may claim a smaller maxBufferLength, so
 * tests can force weight windows on a real GPU, and closing it leaves the shared device open.
 */
final class LimitedDevice implements Device {
    private final Device d;
    private final long maxBufferLength;

    LimitedDevice(Device d, long maxBufferLength) {
        this.d = d;
        this.maxBufferLength = Math.min(maxBufferLength, d.maxBufferLength());
    }

    /** A view of the test JVM's one real Metal device, opened on first use (macOS arm64 only). */
    static synchronized Device sharedMetal(long maxBufferLength) {
        if (shared == null) {
            shared = io.strata.metal.objc.MetalDevice.open();
            Runtime.getRuntime().addShutdownHook(new Thread(shared::close));
        }
        return new LimitedDevice(shared, maxBufferLength);
    }

    private static Device shared;

    @Override
    public String name() {
        return d.name() + " (maxBufferLength " + maxBufferLength + ")";
    }

    @Override
    public long maxBufferLength() {
        return maxBufferLength;
    }

    @Override
    public long recommendedMaxWorkingSetSize() {
        return d.recommendedMaxWorkingSetSize();
    }

    @Override
    public long pageSize() {
        return d.pageSize();
    }

    @Override
    public boolean supportsSimdgroupMatrix() {
        return d.supportsSimdgroupMatrix();
    }

    @Override
    public DeviceBuffer newBuffer(long bytes) {
        if (bytes > maxBufferLength) {
            throw new IllegalArgumentException("buffer of " + bytes + " bytes exceeds maxBufferLength " + maxBufferLength);
        }
        return d.newBuffer(bytes);
    }

    @Override
    public DeviceBuffer wrap(MemorySegment region) {
        if (region.byteSize() > maxBufferLength) {
            throw new IllegalArgumentException("region of " + region.byteSize() + " bytes exceeds maxBufferLength " + maxBufferLength);
        }
        return d.wrap(region);
    }

    @Override
    public Pipeline pipeline(String kernel) {
        return d.pipeline(kernel);
    }

    @Override
    public Commands beginCommands() {
        return d.beginCommands();
    }

    @Override
    public void close() {
        // the shared device stays open for the next test
    }
}
