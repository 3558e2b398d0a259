package io.strata.engine.tensor;

/**
 * Format facts of every ggml tensor type Strata reads: the GGUF type id, the number of elements in one
 * block and the bytes one block takes. These facts are shared by the GGUF parser, the planner (bytes per
 * layer) and the kernels; the kernels themselves live in the backends.
 *
 * <p>Block layouts (little-endian, as ggml's {@code ggml-common.h}):
 * <ul>
 *   <li>Q4_0: f16 d, 16 bytes of nibbles (element j low nibble of byte j, element j+16 high nibble); x = d*(q-8)</li>
 *   <li>Q4_1: f16 d, f16 m, 16 bytes of nibbles; x = d*q + m</li>
 *   <li>Q5_0: f16 d, u32 high bits, 16 bytes of nibbles; x = d*(q-16)</li>
 *   <li>Q5_1: f16 d, f16 m, u32 high bits, 16 bytes of nibbles; x = d*q + m</li>
 *   <li>Q8_0: f16 d, 32 x i8; x = d*q</li>
 *   <li>Q2_K: 16 bytes scales (4-bit scale | 4-bit min), 64 bytes 2-bit quants, f16 d, f16 dmin</li>
 *   <li>Q3_K: 32 bytes high-bit mask, 64 bytes 2-bit low quants, 12 bytes packed 6-bit scales, f16 d</li>
 *   <li>Q4_K: f16 d, f16 dmin, 12 bytes packed 6-bit scales and mins, 128 bytes nibbles</li>
 *   <li>Q5_K: f16 d, f16 dmin, 12 bytes scales and mins, 32 bytes high bits, 128 bytes nibbles</li>
 *   <li>Q6_K: 128 bytes low nibbles, 64 bytes high 2 bits, 16 x i8 scales, f16 d</li>
 *   <li>Q8_K (activations only): f32 d, 256 x i8, 16 x i16 block sums</li>
 * </ul>
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24),
    Q8_0(8, 32, 34),
    Q2_K(10, 256, 84),
    Q3_K(11, 256, 110),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    Q8_K(15, 256, 292),
    BF16(30, 1, 2);

    /** Id in GGUF tensor infos ({@code enum ggml_type}). */
    public final int id;
    /** Elements per block. */
    public final int blockSize;
    /** Bytes per block. */
    public final int typeSize;

    GgmlType(int id, int blockSize, int typeSize) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
    }

    /** Whether the type is a block quantization (as opposed to a plain float type). */
    public boolean quantized() {
        return blockSize > 1;
    }

    /** Bytes taken by {@code elements} values; {@code elements} must be a multiple of the block size. */
    public long byteSize(long elements) {
        if (elements % blockSize != 0) {
            throw new IllegalArgumentException(name() + ": " + elements + " elements is not a multiple of the block size " + blockSize);
        }
        return elements / blockSize * typeSize;
    }

    /** The type with GGUF id {@code id}, or null when Strata does not know it. */
    public static GgmlType byId(int id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }

    /** Name ggml gives types Strata cannot read (for error messages). */
    public static String ggmlName(int id) {
        GgmlType t = byId(id);
        if (t != null) return t.name();
        return switch (id) {
            case 4 -> "Q4_2 (removed)";
            case 5 -> "Q4_3 (removed)";
            case 9 -> "Q8_1";
            case 16 -> "IQ2_XXS";
            case 17 -> "IQ2_XS";
            case 18 -> "IQ3_XXS";
            case 19 -> "IQ1_S";
            case 20 -> "IQ4_NL";
            case 21 -> "IQ3_S";
            case 22 -> "IQ2_S";
            case 23 -> "IQ4_XS";
            case 24 -> "I8";
            case 25 -> "I16";
            case 26 -> "I32";
            case 27 -> "I64";
            case 28 -> "F64";
            case 29 -> "IQ1_M";
            case 34 -> "TQ1_0";
            case 35 -> "TQ2_0";
            case 39 -> "MXFP4";
            default -> "unknown type " + id;
        };
    }
}
