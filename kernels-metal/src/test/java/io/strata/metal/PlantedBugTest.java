package io.strata.metal;

import io.strata.engine.tensor.GgmlType;
import io.strata.metal.shim.ShimBuild;
import io.strata.metal.shim.ShimDevice;
import io.strata.metal.shim.ShimLibraries;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Plants one bug at a time in the real kernel sources (a deleted barrier, a wrong index), builds that library and
 * runs the same test that guards the kernel: it must fail. This shows that the kernel tests and the shim's schedules
 * catch these kinds of bugs in these kernels, not only in toy kernels ({@code HarnessTest}).
 */
@Tag("shim")
class PlantedBugTest {

    /** A textual mutation of one source file, and the check that must then fail. */
    record Mutant(String name, String file, String find, String replace, int occurrences, Consumer<KernelCases> kernelCheck,
                  Consumer<BackendCases> backendCheck) {
        @Override
        public String toString() {
            return name;
        }
    }

    static List<Mutant> mutants() {
        String barrier = "threadgroup_barrier(mem_flags::mem_threadgroup);";
        return List.of(
                new Mutant("rms_norm_f32 without its barrier", "norm_rope.metal", "    " + barrier + "\n    float t = tiisg",
                        "    float t = tiisg", 1, KernelCases::rms_norm_f32, null),
                new Mutant("mul_mm without the barrier after the products", "matmat.metal",
                        "            }\n        }\n        " + barrier + "\n    }", "            }\n        }\n    }", 1,
                        k -> k.mulMm(GgmlType.Q8_0), null),
                new Mutant("attn_vec without the barrier before merging SIMD-groups", "attention.metal",
                        "    " + barrier + "\n    for (uint idx = tpitg; idx < hpt * D; idx += ntg) {",
                        "    for (uint idx = tpitg; idx < hpt * D; idx += ntg) {", 1, null, BackendCases::attentionPrefillThenDecodeF32),
                new Mutant("attn_tile without the barrier between scoring and loading V", "attention.metal",
                        "        m = mn;\n        " + barrier, "        m = mn;", 1, null, BackendCases::attentionPrefillThenDecodeF32),
                new Mutant("Q4_K (and Q5_K) with the wrong scale index", "common.metal", "scale_min_k4(2 * g + hi,", "scale_min_k4(2 * g,", 4,
                        k -> k.mulMv(GgmlType.Q4_K), null),
                new Mutant("Q6_K with the wrong high-bit shift", "common.metal", "(qh[i] >> (2 * k))", "(qh[i] >> k)", 2,
                        k -> k.mulMv(GgmlType.Q6_K), null),
                new Mutant("mul_mv lanes striding one element short", "matvec.metal", "e0 += 256u", "e0 += 248u", 1,
                        k -> k.mulMv(GgmlType.Q8_0), null),
                new Mutant("get_rows reading the next row", "elementwise.metal", "(ulong)ids[i] * args.row_bytes",
                        "(ulong)(ids[i] + 1) * args.row_bytes", 1, k -> k.getRows(GgmlType.F16), null));
    }

    private static ShimDevice.Library build(Mutant m) {
        List<ShimBuild.Source> sources = new ArrayList<>();
        int replaced = 0;
        for (ShimBuild.Source s : ShimLibraries.kernelSources()) {
            String text = s.text();
            if (s.name().equals(m.file())) {
                int count = text.split(java.util.regex.Pattern.quote(m.find()), -1).length - 1;
                assertEquals(m.occurrences(), count, "the mutation '" + m.name() + "' must find its target in " + m.file());
                text = text.replace(m.find(), m.replace());
                replaced = count;
            }
            sources.add(new ShimBuild.Source(s.name(), text));
        }
        assertTrue(replaced > 0);
        return ShimDevice.Library.load(ShimBuild.build("mutant_" + Integer.toHexString(m.name().hashCode()), sources));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("mutants")
    void theGuardingTestFails(Mutant m) {
        ShimDevice.Library lib = build(m);
        Runnable check;
        if (m.kernelCheck() != null) {
            KernelCases cases = new KernelCases() {
                @Override
                protected List<Device> devices() {
                    List<Device> out = new ArrayList<>();
                    for (ShimDevice.Schedule s : ShimDevice.Schedule.standard()) {
                        out.add(new ShimDevice(lib, s, 1L << 30));
                    }
                    return out;
                }
            };
            check = () -> m.kernelCheck().accept(cases);
        } else {
            BackendCases cases = new BackendCases() {
                @Override
                protected Device newDevice(long maxBufferLength) {
                    return new ShimDevice(lib, ShimDevice.Schedule.rotating(3), maxBufferLength);
                }
            };
            check = () -> m.backendCheck().accept(cases);
        }
        try {
            check.run();
        } catch (AssertionError | IllegalStateException caught) {
            System.out.println(m.name() + " -> " + caught.getMessage());
            return;
        }
        fail("the planted bug '" + m.name() + "' was not detected");
    }
}
