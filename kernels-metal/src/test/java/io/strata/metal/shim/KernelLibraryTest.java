package io.strata.metal.shim;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The product kernels compile under the shim with -Wall -Werror, and the library has every kernel Kernels.java names. */
@Tag("shim")
class KernelLibraryTest {
    @Test
    void everyKernelCompiles() {
        Set<String> names = ShimLibraries.kernels().kernels();
        assertTrue(names.contains("mul_mv_q4_0_f32"), names.toString());
    }
}
