package io.strata.metal;

import io.strata.engine.cpu.Dequant;
import io.strata.engine.cpu.Quantize;
import io.strata.engine.tensor.GgmlType;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

/** Test inputs for the kernels and their references, built on the engine's scalar kernels (Dequant, Quantize). */
final class TestData {
    private TestData() {
    }

    static float[] floats(Random r, int n, float scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (r.nextFloat() * 2 - 1) * scale;
        }
        return x;
    }

    /** A weight matrix of {@code rows x cols}: quantized random values, as a model file would hold. */
    static byte[] quantized(GgmlType type, Random r, int rows, int cols) {
        float[] w = floats(r, rows * cols, 1f);
        return Quantize.quantize(type, w, 0, rows * cols);
    }

    /**
     * Blocks of random bytes with sane scale fields: every bit pattern of quants, high bits and packed scales
     * occurs (quantizing real values leaves some unused), while the f16 scales stay small and finite.
     */
    static byte[] randomBlocks(GgmlType type, Random r, int rows, int cols) {
        int bytes = Math.toIntExact(type.byteSize((long) rows * cols));
        byte[] b = new byte[bytes];
        r.nextBytes(b);
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int[] halves = switch (type) {
            case Q4_0, Q5_0, Q8_0 -> new int[] {0};
            case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            case Q6_K -> new int[] {208};
            case F16, BF16, F32, Q8_K -> new int[0];
        };
        switch (type) {
            case F32 -> {
                for (int i = 0; i < bytes; i += 4) bb.putFloat(i, r.nextFloat() * 2 - 1);
            }
            case F16 -> {
                for (int i = 0; i < bytes; i += 2) bb.putShort(i, Float.floatToFloat16(r.nextFloat() * 2 - 1));
            }
            case BF16 -> {
                for (int i = 0; i < bytes; i += 2) bb.putShort(i, Quantize.floatToBf16(r.nextFloat() * 2 - 1));
            }
            default -> {
                for (int blk = 0; blk < bytes; blk += type.typeSize) {
                    for (int h : halves) {
                        bb.putShort(blk + h, Float.floatToFloat16((r.nextFloat() * 2 - 1) * 0.05f));
                    }
                }
            }
        }
        return b;
    }

    /** {@code rows x cols} values of {@code data} through the engine's scalar dequantizer. */
    static float[] dequantize(GgmlType type, MemorySegment data, int rows, int cols) {
        float[] out = new float[rows * cols];
        long rowBytes = type.byteSize(cols);
        for (int r = 0; r < rows; r++) {
            Dequant.dequantizeRow(type, data, r * rowBytes, out, r * cols, cols);
        }
        return out;
    }

    static float roundBf16(float f) {
        return Dequant.bf16ToFloat(Quantize.floatToBf16(f));
    }

    /**
     * Reference product {@code out[i][r] = sum_c w[r][c] * x[i][c]} in double (x rounded to bfloat16 first for BF16
     * weights, as the engine and the kernels do), and for each output the bound {@code sum |w x|} its error is
     * measured against.
     */
    static double[][] matmul(GgmlType type, float[] w, int rows, int cols, float[] x, int n) {
        double[] out = new double[n * rows];
        double[] mag = new double[n * rows];
        for (int i = 0; i < n; i++) {
            for (int r = 0; r < rows; r++) {
                double s = 0;
                double m = 0;
                for (int c = 0; c < cols; c++) {
                    float xv = x[i * cols + c];
                    if (type == GgmlType.BF16) {
                        xv = roundBf16(xv);
                    }
                    double p = (double) w[r * cols + c] * xv;
                    s += p;
                    m += Math.abs(p);
                }
                out[i * rows + r] = s;
                mag[i * rows + r] = m;
            }
        }
        return new double[][] {out, mag};
    }

    /** Fails unless {@code |got - want| <= rel * bound + 1e-6} for every element; returns the worst ratio. */
    static double assertWithin(String what, double[] want, double[] bound, float[] got, double rel) {
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs(got[i] - want[i]);
            double allowed = rel * bound[i] + 1e-6;
            if (!(err <= allowed)) {
                throw new AssertionError(what + ": element " + i + " is " + got[i] + ", expected " + want[i] + " (error " + err
                        + ", allowed " + allowed + ")");
            }
            worst = Math.max(worst, err / allowed);
        }
        return worst;
    }
}
