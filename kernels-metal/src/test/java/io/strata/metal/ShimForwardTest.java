package io.strata.metal;

import io.strata.metal.shim.ShimDevice;
import io.strata.metal.shim.ShimLibraries;
import org.junit.jupiter.api.Tag;

/** Whole forward passes on "Metal through the shim": the Java dispatch code and the .metal kernels, on the CPU. */
@Tag("shim")
class ShimForwardTest extends ForwardCases {
    @Override
    protected Device newDevice(long maxBufferLength) {
        return new ShimDevice(ShimLibraries.kernels(), ShimDevice.Schedule.rotating(5), maxBufferLength);
    }
}
