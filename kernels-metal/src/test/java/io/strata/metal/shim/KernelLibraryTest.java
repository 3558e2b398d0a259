package io.strata.metal.shim;

import io.strata.engine.tensor.GgmlType;
import io.strata.metal.KernelSource;
import io.strata.metal.Kernels;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The product kernels compile under the shim with -Wall -Werror, and the library holds exactly the kernels the
 * dispatch code names (every weight type for each product and gather, every cache type and head class).
 */
@Tag("shim")
class KernelLibraryTest {
    @Test
    void theLibraryHasExactlyTheKernelsKernelsJavaDispatches() {
        Set<String> want = new TreeSet<>();
        for (GgmlType t : GgmlType.values()) {
            if (t == GgmlType.Q8_K) {
                continue;
            }
            String n = Kernels.typeName(t);
            want.add("mul_mv_" + n + "_f32");
            want.add("mul_mm_" + n + "_f32");
            want.add("get_rows_" + n);
        }
        for (String kv : List.of("f32", "f16")) {
            want.add("kv_store_" + kv);
            for (int d : new int[] {32, 64, 128, 256}) {
                want.add("attn_vec_f32_kv_" + kv + "_d" + d);
                want.add("attn_tile_f32_kv_" + kv + "_d" + d);
            }
        }
        want.addAll(List.of("rms_norm_f32", "rope_norm_f32", "rope_neox_f32", "silu_mul_f32", "add_f32", "copy_f32",
                "add_bias_f32", "copy_rows_f32"));
        assertEquals(want, new TreeSet<>(ShimLibraries.kernels().kernels()));
    }

    @Test
    void theMetalLibraryTextIsTheSourcesInOrderWithLineDirectives() {
        String text = KernelSource.libraryText();
        int at = -1;
        for (String f : KernelSource.FILES) {
            int i = text.indexOf("#line 1 \"" + f + "\"\n");
            assertTrue(i > at, f + " follows the files before it");
            at = i;
        }
    }
}
