package io.strata.worker.grpc;

import io.strata.proto.v1.DType;
import io.strata.proto.v1.Matrix;
import io.strata.worker.ActivationType;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The activation codec: little-endian bytes, f32 exact, f16 and bf16 rounded to nearest even, shapes checked. */
class WireTest {

    static float[] values() {
        SplittableRandom r = new SplittableRandom(3);
        float[] v = new float[2 * 64];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-3, 4)));
        v[0] = 0f;
        v[1] = -0f;
        v[2] = Float.POSITIVE_INFINITY;
        v[3] = Float.NaN;
        v[4] = 65504f;           // largest f16
        v[5] = 1.00390625f;      // halfway between two bf16 values: rounds to even (1.0)
        v[6] = 1.01171875f;      // halfway, rounds up to even (1.015625)
        return v;
    }

    @Test
    void f32IsExactLittleEndian() {
        float[] v = values();
        Matrix m = Wire.encode(v, 2, 64, ActivationType.F32);
        assertEquals(DType.DTYPE_F32, m.getDtype());
        assertEquals(2 * 64 * 4, m.getData().size());
        ByteBuffer b = m.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(Float.floatToRawIntBits(v[7]), b.getInt(7 * 4));
        assertArrayEquals(v, Wire.decode(m, "t"));
    }

    @Test
    void f16HalvesTheBytesAndRoundsAsTheJdk() {
        float[] v = values();
        Matrix m = Wire.encode(v, 2, 64, ActivationType.F16);
        assertEquals(2 * 64 * 2, m.getData().size());
        float[] back = Wire.decode(m, "t");
        for (int i = 0; i < v.length; i++) {
            assertEquals(Float.float16ToFloat(Float.floatToFloat16(v[i])), back[i], "value " + i + " = " + v[i]);
        }
    }

    @Test
    void bf16RoundsToNearestEvenAndKeepsNaN() {
        float[] v = values();
        float[] back = Wire.decode(Wire.encode(v, 2, 64, ActivationType.BF16), "t");
        assertEquals(1.0f, back[5]);
        assertEquals(1.015625f, back[6]);
        assertTrue(Float.isNaN(back[3]));
        assertEquals(Float.POSITIVE_INFINITY, back[2]);
        for (int i = 7; i < v.length; i++) {
            assertTrue(Math.abs(back[i] - v[i]) <= Math.abs(v[i]) * 0x1p-8f, "value " + i + ": " + v[i] + " -> " + back[i]);
            assertEquals(0, Float.floatToRawIntBits(back[i]) & 0xffff, "low bits are zero");
        }
    }

    @Test
    void aMatrixWhoseBytesDoNotMatchItsShapeIsRefused() {
        Matrix m = Wire.encode(new float[8], 2, 4, ActivationType.F32).toBuilder().setRows(3).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Wire.decode(m, "step 5"));
        assertTrue(e.getMessage().contains("step 5: 3 x 4 F32 needs 48 bytes but the frame carries 32"), e.getMessage());
        Matrix unknown = m.toBuilder().setDtype(DType.DTYPE_UNSPECIFIED).build();
        assertThrows(IllegalArgumentException.class, () -> Wire.decode(unknown, "step 5"));
    }
}
