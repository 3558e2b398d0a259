package io.strata.metal;

import io.strata.metal.shim.ShimDevice;
import io.strata.metal.shim.ShimLibraries;
import org.junit.jupiter.api.Tag;

/** The Metal backend's operations on the CPU shim; each dispatch in turn runs forward, reverse and random. */
@Tag("shim")
class ShimBackendTest extends BackendCases {
    @Override
    protected Device newDevice(long maxBufferLength) {
        return new ShimDevice(ShimLibraries.kernels(), ShimDevice.Schedule.rotating(11), maxBufferLength);
    }
}
