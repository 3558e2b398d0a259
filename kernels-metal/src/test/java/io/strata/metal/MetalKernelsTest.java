package io.strata.metal;

import io.strata.metal.objc.ObjC;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;

import java.util.List;

/** Every kernel on the real GPU (macOS arm64 only; skipped, with the reason, elsewhere). */
@Tag("metal")
class MetalKernelsTest extends KernelCases {
    @BeforeAll
    static void onlyOnAppleSilicon() {
        Assumptions.assumeTrue(ObjC.isSupportedPlatform(), "real Metal tests run only on macOS arm64; this is "
                + System.getProperty("os.name") + " " + System.getProperty("os.arch"));
    }

    @org.junit.jupiter.api.Test
    void describeTheDevice() {
        try (Device d = LimitedDevice.sharedMetal(Long.MAX_VALUE)) {
            System.out.println("Metal device: " + d.name() + ", maxBufferLength " + d.maxBufferLength()
                    + ", recommendedMaxWorkingSetSize " + d.recommendedMaxWorkingSetSize()
                    + ", SIMD-group matrices (Apple7) " + d.supportsSimdgroupMatrix());
            org.junit.jupiter.api.Assertions.assertTrue(d.maxBufferLength() > 0);
        }
    }

    @Override
    protected List<Device> devices() {
        return List.of(LimitedDevice.sharedMetal(Long.MAX_VALUE));
    }

    @Override
    protected boolean simdgroupMatrix() {
        try (Device d = LimitedDevice.sharedMetal(Long.MAX_VALUE)) {
            return d.supportsSimdgroupMatrix();
        }
    }
}
