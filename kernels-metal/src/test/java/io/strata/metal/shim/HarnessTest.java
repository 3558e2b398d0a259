package io.strata.metal.shim;

import io.strata.metal.Device;
import io.strata.metal.Device.DeviceBuffer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tests of the CPU shim itself: correct kernels give the right answer under every schedule, and each kind of
 * planted bug (missing barrier, missing SIMD-group barrier, wrong index, write past the end, divergent
 * collective, barrier after return, wrong argument struct, unbound buffer) makes the check fail.
 */
@Tag("shim")
class HarnessTest {

    private static final int ROWS = 37;
    private static final int COLS = 1000;

    private static ShimDevice device(ShimDevice.Schedule s) {
        return new ShimDevice(ShimLibraries.harness(), s, 1L << 30);
    }

    private static DeviceBuffer floats(Device d, float[] values) {
        DeviceBuffer b = d.newBuffer(4L * values.length);
        MemorySegment.copy(values, 0, b.contents(), JAVA_FLOAT, 0, values.length);
        return b;
    }

    private static float[] read(DeviceBuffer b, int n) {
        float[] out = new float[n];
        MemorySegment.copy(b.contents(), JAVA_FLOAT, 0, out, 0, n);
        return out;
    }

    private static float[] randomRows() {
        Random r = new Random(5);
        float[] x = new float[ROWS * COLS];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextFloat() * 2 - 1;
        }
        return x;
    }

    private static float[] rowSums(float[] x) {
        float[] out = new float[ROWS];
        for (int r = 0; r < ROWS; r++) {
            double s = 0;
            for (int c = 0; c < COLS; c++) {
                s += x[r * COLS + c];
            }
            out[r] = (float) s;
        }
        return out;
    }

    /** Runs a row_sum-style kernel on one schedule and returns the sums. */
    private static float[] runRowSum(String kernel, ShimDevice.Schedule s, float[] x) {
        try (ShimDevice d = device(s); Arena arena = Arena.ofConfined()) {
            DeviceBuffer in = floats(d, x);
            DeviceBuffer out = d.newBuffer(4L * ROWS);
            MemorySegment args = arena.allocate(8);
            args.set(JAVA_INT, 0, COLS);
            args.set(JAVA_INT, 4, ROWS);
            Device.Commands c = d.beginCommands();
            c.setPipeline(d.pipeline(kernel));
            c.setBytes(args, 0);
            c.setBuffer(in, 0, 1);
            c.setBuffer(out, 0, 2);
            c.setThreadgroupMemoryLength(16, 0);
            c.dispatchThreadgroups(ROWS, 1, 1, 64, 1, 1);
            c.commitAndWait();
            return read(out, ROWS);
        }
    }

    /** The check every kernel test makes: the result under each standard schedule is close to the reference. */
    private static void checkUnderAllSchedules(String kernel) {
        float[] x = randomRows();
        float[] expected = rowSums(x);
        for (ShimDevice.Schedule s : ShimDevice.Schedule.standard()) {
            Compare.assertClose(kernel + " under " + s, expected, runRowSum(kernel, s, x), 1e-5, 1e-5);
        }
    }

    @Test
    void correctReductionPassesUnderEverySchedule() {
        checkUnderAllSchedules("row_sum");
    }

    @Test
    void missingBarrierFailsTheCheck() {
        AssertionError e = assertThrows(AssertionError.class, () -> checkUnderAllSchedules("row_sum_missing_barrier"));
        assertTrue(e.getMessage().contains("values wrong"), e.getMessage());
        // and the schedules disagree with each other: one order happens to work, another reads poisoned memory
        float[] x = randomRows();
        List<Boolean> right = new ArrayList<>();
        for (ShimDevice.Schedule s : ShimDevice.Schedule.standard()) {
            try {
                Compare.assertClose("", rowSums(x), runRowSum("row_sum_missing_barrier", s, x), 1e-5, 1e-5);
                right.add(true);
            } catch (AssertionError wrong) {
                right.add(false);
            }
        }
        assertTrue(right.contains(false), "some schedule must expose the missing barrier: " + right);
    }

    @Test
    void wrongIndexFailsTheCheck() {
        AssertionError e = assertThrows(AssertionError.class, () -> checkUnderAllSchedules("row_sum_wrong_index"));
        assertTrue(e.getMessage().contains("values wrong"), e.getMessage());
    }

    @Test
    void writePastTheEndIsReported() {
        float[] x = randomRows();
        try (ShimDevice d = device(ShimDevice.Schedule.FORWARD); Arena arena = Arena.ofConfined()) {
            DeviceBuffer in = floats(d, x);
            DeviceBuffer out = d.newBuffer(4L * ROWS);
            MemorySegment args = arena.allocate(8);
            args.set(JAVA_INT, 0, COLS);
            args.set(JAVA_INT, 4, ROWS);
            Device.Commands c = d.beginCommands();
            c.setPipeline(d.pipeline("row_sum_write_past_end"));
            c.setBytes(args, 0);
            c.setBuffer(in, 0, 1);
            c.setBuffer(out, 0, 2);
            c.dispatchThreadgroups(ROWS, 1, 1, 32, 1, 1);
            IllegalStateException e = assertThrows(IllegalStateException.class, c::commitAndWait);
            assertTrue(e.getMessage().contains("wrote past the end of the buffer bound at buffer(2)"), e.getMessage());
        }
    }

    private static float[] runLanes(String kernel, ShimDevice.Schedule s, float[] x, int threads, int tgmem) {
        try (ShimDevice d = device(s)) {
            DeviceBuffer in = floats(d, x);
            DeviceBuffer out = d.newBuffer(4L * threads * 12);
            Device.Commands c = d.beginCommands();
            c.setPipeline(d.pipeline(kernel));
            c.setBuffer(in, 0, 0);
            c.setBuffer(out, 0, 1);
            if (tgmem > 0) {
                c.setThreadgroupMemoryLength(tgmem, 0);
            }
            c.dispatchThreadgroups(1, 1, 1, threads, 1, 1);
            c.commitAndWait();
            return read(out, threads * 12);
        }
    }

    @Test
    void missingSimdgroupBarrierIsExposedBySomeSchedule() {
        float[] x = new float[32];
        float[] expected = new float[32];
        for (int i = 0; i < 32; i++) {
            x[i] = i + 1;
        }
        for (int i = 0; i < 32; i++) {
            expected[i] = x[31 - i];
        }
        int wrong = 0;
        for (ShimDevice.Schedule s : ShimDevice.Schedule.standard()) {
            float[] good = runLanes("reverse_lanes", s, x, 32, 128);
            Compare.assertClose("reverse_lanes " + s, expected, java.util.Arrays.copyOf(good, 32), 0, 0);
            float[] bad = runLanes("reverse_lanes_missing_simdgroup_barrier", s, x, 32, 128);
            try {
                Compare.assertClose("", expected, java.util.Arrays.copyOf(bad, 32), 0, 0);
            } catch (AssertionError e) {
                wrong++;
            }
        }
        assertTrue(wrong > 0, "no schedule exposed the missing simdgroup_barrier");
    }

    @Test
    void divergentCollectiveIsReported() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> runLanes("divergent_simd_sum", ShimDevice.Schedule.FORWARD, new float[32], 32, 0));
        assertTrue(e.getMessage().contains("divergent SIMD-group collective"), e.getMessage());
        assertTrue(e.getMessage().contains("harness.metal:"), "names the source line: " + e.getMessage());
    }

    @Test
    void barrierAfterReturnIsReported() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> runLanes("barrier_after_return", ShimDevice.Schedule.REVERSE, new float[64], 64, 256));
        assertTrue(e.getMessage().contains("returned"), e.getMessage());
    }

    @Test
    void wrongArgumentStructSizeIsReported() {
        try (ShimDevice d = device(ShimDevice.Schedule.FORWARD); Arena arena = Arena.ofConfined()) {
            Device.Commands c = d.beginCommands();
            c.setPipeline(d.pipeline("row_sum"));
            c.setBytes(arena.allocate(4), 0);
            c.setBuffer(d.newBuffer(64), 0, 1);
            c.setBuffer(d.newBuffer(64), 0, 2);
            c.setThreadgroupMemoryLength(16, 0);
            c.dispatchThreadgroups(1, 1, 1, 64, 1, 1);
            IllegalStateException e = assertThrows(IllegalStateException.class, c::commitAndWait);
            assertTrue(e.getMessage().contains("8-byte struct but 4 bytes are bound at buffer(0)"), e.getMessage());
        }
    }

    @Test
    void unboundBufferIsReported() {
        try (ShimDevice d = device(ShimDevice.Schedule.FORWARD); Arena arena = Arena.ofConfined()) {
            Device.Commands c = d.beginCommands();
            c.setPipeline(d.pipeline("row_sum"));
            c.setBytes(arena.allocate(8), 0);
            c.setBuffer(d.newBuffer(64), 0, 2);
            c.setThreadgroupMemoryLength(16, 0);
            c.dispatchThreadgroups(1, 1, 1, 64, 1, 1);
            IllegalStateException e = assertThrows(IllegalStateException.class, c::commitAndWait);
            assertTrue(e.getMessage().contains("nothing bound at buffer(1)"), e.getMessage());
        }
    }

    @Test
    void collectivesComputeWhatMslSpecifies() {
        int threads = 64;
        float[] x = new float[threads];
        Random r = new Random(3);
        for (int i = 0; i < threads; i++) {
            x[i] = r.nextInt(40) - 5;
        }
        for (ShimDevice.Schedule s : ShimDevice.Schedule.standard()) {
            float[] out = runLanes("collectives", s, x, threads, 0);
            for (int g = 0; g < threads / 32; g++) {
                float sum = 0;
                float max = Float.NEGATIVE_INFINITY;
                float min = Float.POSITIVE_INFINITY;
                boolean all = true;
                boolean any = false;
                for (int l = 0; l < 32; l++) {
                    float v = x[32 * g + l];
                    sum += v;
                    max = Math.max(max, v);
                    min = Math.min(min, v);
                    all &= v > 0;
                    any |= v > 30;
                }
                float prefix = 0;
                for (int l = 0; l < 32; l++) {
                    int i = 32 * g + l;
                    float v = x[i];
                    float[] want = {
                        sum, max, min, prefix, prefix + v, x[32 * g + 31 - l],
                        l + 3 < 32 ? x[i + 3] : v, l - 5 >= 0 ? x[i - 5] : v, x[32 * g + (l ^ 1)], x[32 * g + 7], x[32 * g],
                        (all ? 1 : 0) + (any ? 2 : 0)
                    };
                    prefix += v;
                    for (int k = 0; k < 12; k++) {
                        assertEquals(want[k], out[i * 12 + k], "lane " + i + " result " + k + " under " + s);
                    }
                }
            }
        }
    }

    @Test
    void simdgroupMatrixProduct() {
        Random r = new Random(11);
        float[] a = new float[128];
        float[] bt = new float[128];
        for (int i = 0; i < 128; i++) {
            a[i] = r.nextInt(9) - 4;
            bt[i] = r.nextInt(9) - 4;
        }
        float[] want = new float[256];
        for (int i = 0; i < 16; i++) {
            for (int j = 0; j < 16; j++) {
                float s = 0;
                for (int k = 0; k < 8; k++) {
                    s += a[i * 8 + k] * bt[j * 8 + k];
                }
                want[i * 16 + j] = s;
            }
        }
        for (ShimDevice.Schedule s : ShimDevice.Schedule.standard()) {
            try (ShimDevice d = device(s)) {
                DeviceBuffer ba = floats(d, a);
                DeviceBuffer bb = floats(d, bt);
                DeviceBuffer bc = d.newBuffer(4 * 256);
                Device.Commands c = d.beginCommands();
                c.setPipeline(d.pipeline("matrix_8x8"));
                c.setBuffer(ba, 0, 0);
                c.setBuffer(bb, 0, 1);
                c.setBuffer(bc, 0, 2);
                c.setThreadgroupMemoryLength(512, 0);
                c.setThreadgroupMemoryLength(512, 1);
                c.dispatchThreadgroups(1, 1, 1, 128, 1, 1);
                c.commitAndWait();
                Compare.assertClose("matrix_8x8 " + s, want, read(bc, 256), 0, 0);
            }
        }
    }

    @Test
    void halfConversionsRoundToNearestEvenLikeJava() {
        Random r = new Random(17);
        int n = 1 << 16;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = switch (i % 4) {
                case 0 -> Float.float16ToFloat((short) i);                              // every half exactly
                case 1 -> Float.intBitsToFloat(r.nextInt());                            // any float, incl. NaN/inf
                case 2 -> Float.float16ToFloat((short) (i >> 2)) * (1 + 0x1p-11f);     // ties between halves
                default -> (r.nextFloat() - 0.5f) * 0x1p-14f;                           // subnormal range
            };
        }
        try (ShimDevice d = device(ShimDevice.Schedule.FORWARD)) {
            DeviceBuffer in = floats(d, x);
            DeviceBuffer h = d.newBuffer(2L * n);
            DeviceBuffer back = d.newBuffer(4L * n);
            Device.Commands c = d.beginCommands();
            c.setPipeline(d.pipeline("half_roundtrip"));
            c.setBuffer(in, 0, 0);
            c.setBuffer(h, 0, 1);
            c.setBuffer(back, 0, 2);
            c.dispatchThreadgroups(n / 256, 1, 1, 256, 1, 1);
            c.commitAndWait();
            for (int i = 0; i < n; i++) {
                short want = Float.floatToFloat16(x[i]);
                short got = h.contents().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i);
                boolean nan = Float.isNaN(x[i]);
                if (nan) {
                    assertTrue(Float.isNaN(Float.float16ToFloat(got)), "NaN stays NaN: " + Integer.toHexString(Float.floatToRawIntBits(x[i])));
                } else {
                    assertEquals(want, got, "half(" + x[i] + ") [" + Integer.toHexString(Float.floatToRawIntBits(x[i])) + "]");
                }
                float b = back.contents().getAtIndex(JAVA_FLOAT, i);
                assertEquals(Float.float16ToFloat(got), b, 0f, "float(half bits " + Integer.toHexString(got & 0xFFFF) + ")");
            }
        }
    }

    @Test
    void dispatchStructLayoutMatchesTheLibrary() {
        ShimDevice.Library lib = ShimLibraries.harness();
        assertEquals(ShimDevice.DISPATCH.byteSize(), lib.layout(0), "sizeof(shim_dispatch)");
        String[] fields = {"grid", "threads", "order", "bytes_mask", "seed", "buffers", "lengths", "tgmem"};
        for (int i = 0; i < fields.length; i++) {
            assertEquals(ShimDevice.DISPATCH.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement(fields[i])),
                    lib.layout(i + 1), "offsetof " + fields[i]);
        }
    }
}
