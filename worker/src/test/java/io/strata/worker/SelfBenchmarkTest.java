package io.strata.worker;

import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.tensor.GgmlType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The worker's self-benchmark times the kernels that will serve its layers, and gives back what it borrowed. */
class SelfBenchmarkTest {

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q8_0", "Q3_K", "Q6_K"})
    void timesTheInterleavedKernelsAndReleasesTheCopy(GgmlType type) {
        try (CpuBackend backend = new CpuBackend(1, null)) {
            double bytesPerSecond = SelfBenchmark.matmul(backend, type, 1 << 20, 1e9);
            assertTrue(bytesPerSecond > 0 && Double.isFinite(bytesPerSecond), type + ": " + bytesPerSecond);
            CpuBackend.PrepareStats s = backend.prepareStats();
            // A served weight is interleaved at load; the benchmark's weights (a warm-up slice and the timed matrix)
            // must be too, or the worker reports the speed of kernels it does not run (the preparer threads must be
            // able to read them).
            assertEquals(2, s.temporary(), type + ": the benchmark weights were not interleaved: " + s);
            assertEquals(0, s.declined(), type + ": " + s);
            assertTrue(backend.weightCopyFiles().isEmpty(), type + ": an interleaved copy was kept: " + backend.weightCopyFiles());
        }
    }
}
