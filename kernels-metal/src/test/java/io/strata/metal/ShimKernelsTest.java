package io.strata.metal;

import io.strata.metal.shim.ShimDevice;
import io.strata.metal.shim.ShimLibraries;
import org.junit.jupiter.api.Tag;

import java.util.ArrayList;
import java.util.List;

/** Every kernel on the CPU shim, under forward, reverse and two seeded random schedules. */
@Tag("shim")
class ShimKernelsTest extends KernelCases {
    @Override
    protected List<Device> devices() {
        List<Device> out = new ArrayList<>();
        for (ShimDevice.Schedule s : ShimDevice.Schedule.standard()) {
            out.add(new ShimDevice(ShimLibraries.kernels(), s, 1L << 30));
        }
        return out;
    }
}
