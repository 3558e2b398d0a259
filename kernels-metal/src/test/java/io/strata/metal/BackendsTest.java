package io.strata.metal;

import io.strata.metal.objc.ObjC;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Backend choice: metal on macOS arm64, cpu elsewhere, overridable. */
class BackendsTest {
    @Test
    void autoPicksThePlatformsBackend() {
        assertEquals(ObjC.isSupportedPlatform() ? "metal" : "cpu", Backends.resolve("auto"));
        assertEquals(ObjC.isSupportedPlatform() ? "metal" : "cpu", Backends.resolve(null));
        assertEquals("cpu", Backends.resolve("CPU"));
    }

    @Test
    void metalWhereItCannotRunIsAClearError() {
        if (ObjC.isSupportedPlatform()) {
            assertEquals("metal", Backends.resolve("metal"));
            return;
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.resolve("metal"));
        assertTrue(e.getMessage().contains("needs macOS on Apple silicon"), e.getMessage());
    }

    @Test
    void unknownChoicesAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.resolve("gpu"));
        assertTrue(e.getMessage().contains("auto, cpu or metal"), e.getMessage());
    }
}
