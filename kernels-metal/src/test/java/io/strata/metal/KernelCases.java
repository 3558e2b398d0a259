package io.strata.metal;

import io.strata.engine.tensor.GgmlType;
import io.strata.metal.Device.Commands;
import io.strata.metal.Device.DeviceBuffer;
import io.strata.metal.Kernels.Ref;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * One test per kernel (named as the kernel is), each on several shapes, against the engine's scalar kernels
 * ({@code Dequant}) and plain double-precision loops. Runs on every device {@link #devices()} returns: the CPU
 * shim under several schedules on Linux ({@code ShimKernelsTest}), the real GPU on macOS ({@code MetalKernelsTest}).
 * Attention, RoPE and norms are compared with the engine's CPU backend in {@link BackendCases}.
 */
abstract class KernelCases {

    /** Fresh devices to run every case on; each is closed after use. */
    protected abstract List<Device> devices();

    static DeviceBuffer put(Device d, float[] v) {
        DeviceBuffer b = d.newBuffer(4L * Math.max(1, v.length));
        MemorySegment.copy(v, 0, b.contents(), JAVA_FLOAT, 0, v.length);
        return b;
    }

    static DeviceBuffer put(Device d, int[] v) {
        DeviceBuffer b = d.newBuffer(4L * Math.max(1, v.length));
        MemorySegment.copy(v, 0, b.contents(), JAVA_INT, 0, v.length);
        return b;
    }

    static DeviceBuffer put(Device d, byte[] v) {
        DeviceBuffer b = d.newBuffer(Math.max(1, v.length));
        MemorySegment.copy(v, 0, b.contents(), JAVA_BYTE, 0, v.length);
        return b;
    }

    static float[] get(DeviceBuffer b, int n) {
        float[] out = new float[n];
        MemorySegment.copy(b.contents(), JAVA_FLOAT, 0, out, 0, n);
        return out;
    }

    static Ref ref(DeviceBuffer b) {
        return new Ref(b, 0);
    }

    /** Shapes (cols, rows) for a weight type: ragged widths for the float types, whole blocks for the others. */
    static int[][] matrixShapes(GgmlType t) {
        if (t.blockSize == 1) {
            return new int[][] {{172, 13}, {37, 9}, {256, 130}, {8, 1}};
        }
        if (t.blockSize == 32) {
            return new int[][] {{32, 1}, {96, 9}, {512, 67}, {1024, 130}};
        }
        return new int[][] {{256, 1}, {512, 9}, {1024, 67}, {2048, 33}};
    }

    static boolean weightType(GgmlType t) {
        return t != GgmlType.Q8_K;
    }

    private void matmulCase(GgmlType type, boolean mm, int[] nins) {
        Random r = new Random(type.ordinal() * 31L + (mm ? 7 : 0));
        for (int[] shape : matrixShapes(type)) {
            int cols = shape[0];
            int rows = shape[1];
            for (boolean rawBits : new boolean[] {false, true}) {
                byte[] w = rawBits ? TestData.randomBlocks(type, r, rows, cols) : TestData.quantized(type, r, rows, cols);
                float[] wf = TestData.dequantize(type, MemorySegment.ofArray(w), rows, cols);
                for (int nin : nins) {
                    float[] x = TestData.floats(r, nin * cols, 1f);
                    double[][] want = TestData.matmul(type, wf, rows, cols, x, nin);
                    float[] first = null;
                    for (Device d : devices()) {
                        try (d) {
                            Kernels k = new Kernels(d);
                            DeviceBuffer wb = put(d, w);
                            DeviceBuffer xb = put(d, x);
                            DeviceBuffer ob = d.newBuffer(4L * nin * rows);
                            Commands c = d.beginCommands();
                            long rowBytes = type.byteSize(cols);
                            if (mm) {
                                k.mulMm(c, type, ref(wb), cols, rows, rowBytes, ref(xb), cols, ref(ob), rows, nin);
                            } else {
                                k.mulMv(c, type, ref(wb), cols, rows, rowBytes, ref(xb), cols, ref(ob), rows, nin);
                            }
                            c.commitAndWait();
                            String what = (mm ? "mul_mm_" : "mul_mv_") + Kernels.typeName(type) + "_f32 " + rows + "x" + cols
                                    + " nin " + nin + (rawBits ? " (random bits)" : "") + " on " + d.name();
                            float[] got = get(ob, nin * rows);
                            TestData.assertWithin(what, want[0], want[1], got, 3e-5);
                            // no races: every schedule gives the same bits (reductions run in a fixed order)
                            if (first == null) {
                                first = got;
                            } else {
                                io.strata.metal.shim.Compare.assertClose(what + " vs the first schedule", first, got, 0, 0);
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "mul_mv_{0}_f32")
    @EnumSource(value = GgmlType.class, names = "Q8_K", mode = EnumSource.Mode.EXCLUDE)
    void mulMv(GgmlType type) {
        matmulCase(type, false, new int[] {1, 3});
    }

    @ParameterizedTest(name = "mul_mm_{0}_f32")
    @EnumSource(value = GgmlType.class, names = "Q8_K", mode = EnumSource.Mode.EXCLUDE)
    void mulMm(GgmlType type) {
        if (!simdgroupMatrix()) {
            org.junit.jupiter.api.Assumptions.abort("device lacks SIMD-group matrices; mul_mm is not used there");
        }
        matmulCase(type, true, new int[] {8, 33});
    }

    /** Whether the devices can run the mul_mm kernels. */
    protected boolean simdgroupMatrix() {
        return true;
    }

    @ParameterizedTest(name = "get_rows_{0}")
    @EnumSource(value = GgmlType.class, names = "Q8_K", mode = EnumSource.Mode.EXCLUDE)
    void getRows(GgmlType type) {
        Random r = new Random(99 + type.ordinal());
        for (int[] shape : matrixShapes(type)) {
            int cols = shape[0];
            int rows = shape[1];
            byte[] w = TestData.randomBlocks(type, r, rows, cols);
            float[] wf = TestData.dequantize(type, MemorySegment.ofArray(w), rows, cols);
            int n = 5;
            int[] ids = new int[n];
            float[] want = new float[n * cols];
            for (int i = 0; i < n; i++) {
                ids[i] = r.nextInt(rows);
                System.arraycopy(wf, ids[i] * cols, want, i * cols, cols);
            }
            for (Device d : devices()) {
                try (d) {
                    DeviceBuffer ob = d.newBuffer(4L * n * cols);
                    Commands c = d.beginCommands();
                    new Kernels(d).getRows(c, type, ref(put(d, w)), cols, type.byteSize(cols), rows, ref(put(d, ids)), n, ref(ob));
                    c.commitAndWait();
                    io.strata.metal.shim.Compare.assertClose("get_rows_" + Kernels.typeName(type) + " " + rows + "x" + cols + " on " + d.name(),
                            want, get(ob, n * cols), 0, 0);
                }
            }
        }
    }

    @Test
    void silu_mul_f32() {
        Random r = new Random(1);
        for (int count : new int[] {1, 255, 256, 1000}) {
            float[] g = TestData.floats(r, count, 6f);
            float[] u = TestData.floats(r, count, 2f);
            float[] want = new float[count];
            for (int j = 0; j < count; j++) {
                want[j] = (float) (g[j] / (1 + Math.exp(-g[j])) * u[j]);
            }
            for (Device d : devices()) {
                try (d) {
                    DeviceBuffer gb = put(d, g);
                    Commands c = d.beginCommands();
                    new Kernels(d).siluMul(c, ref(gb), ref(put(d, u)), count);
                    c.commitAndWait();
                    io.strata.metal.shim.Compare.assertClose("silu_mul_f32 " + count + " on " + d.name(), want, get(gb, count), 1e-5, 1e-6);
                }
            }
        }
    }

    @Test
    void add_f32() {
        Random r = new Random(2);
        for (int count : new int[] {1, 300, 4096}) {
            float[] x = TestData.floats(r, count, 3f);
            float[] y = TestData.floats(r, count, 3f);
            float[] want = new float[count];
            for (int j = 0; j < count; j++) {
                want[j] = x[j] + y[j];
            }
            for (Device d : devices()) {
                try (d) {
                    DeviceBuffer xb = put(d, x);
                    Commands c = d.beginCommands();
                    new Kernels(d).add(c, ref(xb), ref(put(d, y)), count);
                    c.commitAndWait();
                    io.strata.metal.shim.Compare.assertClose("add_f32 " + count + " on " + d.name(), want, get(xb, count), 0, 0);
                }
            }
        }
    }

    @Test
    void copy_f32() {
        Random r = new Random(3);
        float[] x = TestData.floats(r, 777, 3f);
        for (Device d : devices()) {
            try (d) {
                DeviceBuffer ob = d.newBuffer(4L * 777);
                Commands c = d.beginCommands();
                new Kernels(d).copy(c, ref(put(d, x)), ref(ob), 777);
                c.commitAndWait();
                io.strata.metal.shim.Compare.assertClose("copy_f32 on " + d.name(), x, get(ob, 777), 0, 0);
            }
        }
    }

    @Test
    void add_bias_f32() {
        Random r = new Random(4);
        for (int[] s : new int[][] {{1, 64}, {5, 300}, {3, 896}}) {
            int n = s[0];
            int cols = s[1];
            float[] x = TestData.floats(r, n * cols, 3f);
            float[] b = TestData.floats(r, cols, 1f);
            float[] want = new float[n * cols];
            for (int i = 0; i < n * cols; i++) {
                want[i] = x[i] + b[i % cols];
            }
            for (Device d : devices()) {
                try (d) {
                    DeviceBuffer xb = put(d, x);
                    Commands c = d.beginCommands();
                    new Kernels(d).addBias(c, ref(xb), ref(put(d, b)), n, cols);
                    c.commitAndWait();
                    io.strata.metal.shim.Compare.assertClose("add_bias_f32 " + n + "x" + cols + " on " + d.name(), want, get(xb, n * cols), 0, 0);
                }
            }
        }
    }

    @Test
    void copy_rows_f32() {
        Random r = new Random(5);
        int dim = 300;
        float[] src = TestData.floats(r, 7 * dim, 3f);
        int[] rows = {6, 0, 3, 3};
        float[] want = new float[rows.length * dim];
        for (int j = 0; j < rows.length; j++) {
            System.arraycopy(src, rows[j] * dim, want, j * dim, dim);
        }
        for (Device d : devices()) {
            try (d) {
                DeviceBuffer ob = d.newBuffer(4L * rows.length * dim);
                Commands c = d.beginCommands();
                new Kernels(d).copyRows(c, ref(put(d, src)), ref(put(d, rows)), rows.length, dim, ref(ob));
                c.commitAndWait();
                io.strata.metal.shim.Compare.assertClose("copy_rows_f32 on " + d.name(), want, get(ob, rows.length * dim), 0, 0);
            }
        }
    }

    @Test
    void rms_norm_f32() {
        Random r = new Random(6);
        for (int[] s : new int[][] {{1, 64}, {5, 256}, {2, 1000}, {3, 4096}}) {
            int n = s[0];
            int dim = s[1];
            float[] x = TestData.floats(r, n * dim, 2f);
            float[] w = TestData.floats(r, dim, 1.5f);
            float eps = 1e-5f;
            float[] want = new float[n * dim];
            for (int i = 0; i < n; i++) {
                double ss = 0;
                for (int j = 0; j < dim; j++) {
                    ss += (double) x[i * dim + j] * x[i * dim + j];
                }
                double scale = 1 / Math.sqrt(ss / dim + eps);
                for (int j = 0; j < dim; j++) {
                    want[i * dim + j] = (float) (x[i * dim + j] * scale * w[j]);
                }
            }
            for (Device d : devices()) {
                try (d) {
                    DeviceBuffer xb = put(d, x);
                    Commands c = d.beginCommands();
                    // in place, as the engine calls it for the head
                    new Kernels(d).rmsNorm(c, ref(xb), ref(put(d, w)), ref(xb), n, dim, eps);
                    c.commitAndWait();
                    io.strata.metal.shim.Compare.assertClose("rms_norm_f32 " + n + "x" + dim + " on " + d.name(), want, get(xb, n * dim), 2e-5, 1e-6);
                }
            }
        }
    }
}
