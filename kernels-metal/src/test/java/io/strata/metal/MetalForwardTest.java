package io.strata.metal;

import io.strata.metal.objc.ObjC;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;

/** Whole forward passes of the fixture models on the real GPU (macOS arm64 only; skipped, with the reason, elsewhere). */
@Tag("metal")
class MetalForwardTest extends ForwardCases {
    @BeforeAll
    static void onlyOnAppleSilicon() {
        Assumptions.assumeTrue(ObjC.isSupportedPlatform(), "real Metal tests run only on macOS arm64; this is "
                + System.getProperty("os.name") + " " + System.getProperty("os.arch"));
    }

    @Override
    protected Device newDevice(long maxBufferLength) {
        return LimitedDevice.sharedMetal(maxBufferLength);
    }
}
