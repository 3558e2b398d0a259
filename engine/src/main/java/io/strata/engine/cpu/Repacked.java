package io.strata.engine.cpu;

import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static io.strata.engine.cpu.Dequant.I16;
import static io.strata.engine.cpu.Dequant.I8;

/**
 * A weight matrix rewritten into the row-interleaved layouts of {@link InterleavedKernels}: rows are taken {@link #R}
 * at a time (a "group", padded with zero rows at the end), and inside a group the values of one column for all R rows
 * are adjacent, so one vector load brings one column of R rows and the product is an outer product (column of
 * weights times one broadcast activation) with no horizontal sums. The idea is ggml's CPU "repack" (Q4_0 8x8 etc.);
 * the layouts here are Strata's own, shaped for Vector API short lanes.
 *
 * <p>Lanes: a group is handled as one vector of R shorts. Lane {@code 2k} holds row {@code k}, lane {@code 2k+1} row
 * {@code R/2 + k}, so reinterpreting the shorts as R/2 ints gives rows {@code 0..R/2-1} in the low halves and
 * {@code R/2..R-1} in the high halves, in order. Each group is a header area (per block of 32 or super-block of
 * 256 columns) followed by its quantized values, so the inner loops read one contiguous stream:
 * <ul>
 *   <li>Q4_0: header per block: R f16 scales. Values: per block 8 "nibble vectors" of R 16-bit lanes, vector t holding
 *       columns 4t..4t+3 of each lane's row as four nibbles (bits 4j..4j+3 = column 4t+j). Same size as ggml's.</li>
 *   <li>Q8_0: header per block: R f16 scales. Values: per block 32 columns of R int8, in row order (rows 0..R-1, not
 *       the lane order). Same size as ggml's.</li>
 *   <li>Q4_K: header per super-block: R f16 d, R f16 dmin, 8 x R 6-bit scales and 8 x R mins as bytes (each R bytes:
 *       rows 0..R/2-1 then R/2..R-1). Values: per super-block 64 nibble vectors as in Q4_0. 148 bytes per row and
 *       super-block instead of ggml's 144.</li>
 *   <li>Q6_K: header per super-block: R f16 d and 16 x R int8 scales (row halves apart). Values: per super-block and
 *       8 columns, three vectors holding the eight 6-bit values q0..q7 of each lane's row:
 *       {@code A = q0 | q1<<6 | lo(q6)<<12}, {@code B = q2 | q3<<6 | lo(q7)<<12},
 *       {@code C = q4 | q5<<6 | hi(q6)<<12 | hi(q7)<<14} (lo: the low 4 bits, hi: the high 2), so that logical shifts
 *       alone reach every field (10 multiplies per 8 columns instead of 16 for nibbles plus 2-bit fields). Same size as
 *       ggml's.</li>
 *   <li>Q3_K: header per super-block as Q6_K's (R f16 d, 16 x R int8 scales, already minus 32). Values: per
 *       super-block and 16 columns, three vectors holding the sixteen 3-bit values u0..u15 of each lane's row
 *       ({@code u = low 2 bits | high bit << 2}, the weight is {@code u - 4}): {@code A = u0 | u1<<3 | u2<<6 | u3<<9 |
 *       u4<<12 | bit0(u15)<<15}, B the same for u5..u9 and bit 1 of u15, C for u10..u14 and bit 2 of u15. 114 bytes
 *       per row and super-block instead of ggml's 110 (the 6-bit scales stored as bytes).</li>
 *   <li>Q2_K: header per super-block: R f16 d, R f16 dmin, 16 x R bytes of ggml's packed 4-bit scale and min (scale
 *       in the low nibble). Values: per super-block and 16 columns, two vectors of eight 2-bit values each
 *       ({@code A = u0 | u1<<2 | ... | u7<<14}, B for u8..u15). Same size as ggml's.</li>
 *   <li>Q5_K: header per super-block as Q4_K's. Values: per super-block and 16 columns, five vectors: vector e holds
 *       {@code u(3e) | u(3e+1)<<5 | u(3e+2)<<10 | bit e of u15 <<15} (u: the 5-bit value). 180 bytes per row and
 *       super-block instead of ggml's 176.</li>
 *   <li>Q4_1, Q5_0, Q5_1: header per block: R f16 d (and, for the _1 types, R f16 m after them). Values: Q4_1 as
 *       Q4_0's nibble vectors; Q5_0 and Q5_1 per 16 columns five vectors as Q5_K's. Same sizes as ggml's.</li>
 * </ul>
 * Repacking copies the weights: the copy takes about as much memory as the tensor itself.
 */
public final class Repacked {

    /** Rows per group: the number of shorts in one preferred vector (32 with AVX-512, 16 with AVX2). */
    public static final int R = VectorKernels.SS.length() * 2;

    /**
     * Version of the interleaved layouts above: change it with any change to what {@link #of} writes, so that copies
     * stored on disk by an older layout (the CPU backend's repack cache) are no longer used.
     */
    static final int LAYOUT_VERSION = 2;

    final Tensor source;
    final GgmlType type;
    final int rows;
    final int cols;
    final int groups;
    final long groupBytes;
    final MemorySegment data;

    private Repacked(Tensor source, long groupBytes, MemorySegment data) {
        this.source = source;
        this.type = source.type();
        this.rows = source.rows();
        this.cols = source.cols();
        this.groups = (rows + R - 1) / R;
        this.groupBytes = groupBytes;
        this.data = data;
    }

    /** Whether {@code type} has an interleaved layout and kernel (on this machine). */
    public static boolean supports(GgmlType type) {
        if (!VectorKernels.SUPPORTED) return false;
        return switch (type) {
            case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K -> true;
            default -> false;
        };
    }

    /** Bytes one group of R rows takes in the interleaved layout of {@code type}, for rows of {@code cols} values. */
    static long groupBytes(GgmlType type, int cols) {
        return switch (type) {
            case Q4_0 -> (long) (cols / 32) * 18 * R;
            case Q8_0 -> (long) (cols / 32) * 34 * R;
            case Q4_1 -> (long) (cols / 32) * 20 * R;
            case Q5_0 -> (long) (cols / 32) * 22 * R;
            case Q5_1 -> (long) (cols / 32) * 24 * R;
            case Q4_K -> (long) (cols / 256) * 148 * R;
            case Q6_K -> (long) (cols / 256) * 210 * R;
            case Q3_K -> (long) (cols / 256) * 114 * R;
            case Q2_K -> (long) (cols / 256) * 84 * R;
            case Q5_K -> (long) (cols / 256) * 180 * R;
            default -> throw new IllegalArgumentException(type + " has no interleaved layout");
        };
    }

    /** Bytes the interleaved copy of {@code w} takes. */
    public static long bytes(Tensor w) {
        return groupBytes(w.type(), w.cols()) * ((w.rows() + R - 1) / R);
    }

    public Tensor source() {
        return source;
    }

    public MemorySegment data() {
        return data;
    }

    /**
     * Rewrites {@code w} into memory from {@code alloc} ({@link #bytes} bytes, 64-byte aligned); null when a block
     * scale is infinite or NaN (the interleaved kernels convert scales assuming finite values; such a tensor stays on
     * the row-major kernels, which follow ggml exactly).
     */
    public static Repacked of(Tensor w, SegmentAllocator alloc) {
        if (!supports(w.type())) throw new IllegalArgumentException(w + ": no interleaved layout for " + w.type());
        int bs = w.type().blockSize;
        if (w.cols() % bs != 0) throw new IllegalArgumentException(w + ": columns not a multiple of " + bs);
        if (!finiteScales(w)) return null;
        long gb = groupBytes(w.type(), w.cols());
        MemorySegment dst = alloc.allocate(gb * ((w.rows() + R - 1) / R), 64);
        Repacked p = new Repacked(w, gb, dst);
        p.pack();
        return p;
    }

    /**
     * Wraps {@code data}, which must hold exactly what {@link #of} writes for {@code w} in this {@link #LAYOUT_VERSION}
     * (a copy stored earlier), without reading or rewriting it.
     */
    static Repacked ofPacked(Tensor w, MemorySegment data) {
        if (!supports(w.type())) throw new IllegalArgumentException(w + ": no interleaved layout for " + w.type());
        if (data.byteSize() != bytes(w)) {
            throw new IllegalArgumentException(w + ": interleaved copy holds " + data.byteSize() + " bytes, needs " + bytes(w));
        }
        return new Repacked(w, groupBytes(w.type(), w.cols()), data);
    }

    /** Whether every f16 scale (d, and dmin for Q4_K) of {@code w} is finite. */
    static boolean finiteScales(Tensor w) {
        GgmlType t = w.type();
        int[] at = switch (t) {
            case Q4_0, Q8_0, Q5_0 -> new int[]{0};
            case Q4_1, Q5_1 -> new int[]{0, 2};
            case Q4_K, Q5_K -> new int[]{0, 2};
            case Q2_K -> new int[]{80, 82};
            case Q6_K -> new int[]{208};
            case Q3_K -> new int[]{108};
            default -> new int[0];
        };
        long blocks = w.elements() / t.blockSize;
        MemorySegment s = w.data();
        for (long b = 0; b < blocks; b++) {
            for (int off : at) {
                if ((s.get(I16, b * t.typeSize + off) & 0x7C00) == 0x7C00) return false;
            }
        }
        return true;
    }


    // ---- packing: per group, rows are copied to the heap, decoded to one byte per value, and the group is assembled
    // in a heap buffer, then copied out (array code, a few nanoseconds per value). ----

    private void pack() {
        int rb = Math.toIntExact(source.rowBytes());
        byte[] rowsBuf = new byte[R * rb];
        byte[] vals = new byte[R * cols];
        byte[] out = new byte[Math.toIntExact(groupBytes)];
        for (int g = 0; g < groups; g++) {
            java.util.Arrays.fill(rowsBuf, (byte) 0);
            for (int k = 0; k < R; k++) {
                int r = R * g + k;
                if (r < rows) MemorySegment.copy(source.data(), I8, r * source.rowBytes(), rowsBuf, k * rb, rb);
                decode(rowsBuf, k * rb, vals, k * cols);
            }
            switch (type) {
                case Q4_0 -> assembleQ4_0(rowsBuf, rb, vals, out);
                case Q8_0 -> assembleQ8_0(rowsBuf, rb, vals, out);
                case Q4_K -> assembleQ4_K(rowsBuf, rb, vals, out);
                case Q6_K -> assembleQ6_K(rowsBuf, rb, vals, out);
                case Q3_K -> assembleQ3_K(rowsBuf, rb, vals, out);
                case Q2_K -> assembleQ2_K(rowsBuf, rb, vals, out);
                case Q5_K -> assembleQ5_K(rowsBuf, rb, vals, out);
                case Q4_1, Q5_0, Q5_1 -> assembleLegacy(rowsBuf, rb, vals, out);
                default -> throw new AssertionError();
            }
            MemorySegment.copy(out, 0, data, I8, g * groupBytes, out.length);
        }
    }

    /**
     * The raw quantized values of one row (nibbles 0..15, Q8_0 int8, Q6_K 0..63, Q3_K 0..7, Q2_K 0..3, Q5_K, Q5_0 and
     * Q5_1 0..31), one byte each, in column order.
     */
    private void decode(byte[] row, int ro, byte[] vals, int vo) {
        switch (type) {
            case Q4_0 -> {
                for (int b = 0; b < cols / 32; b++) {
                    for (int j = 0; j < 16; j++) {
                        int q = row[ro + 18 * b + 2 + j] & 0xFF;
                        vals[vo + 32 * b + j] = (byte) (q & 0xF);
                        vals[vo + 32 * b + 16 + j] = (byte) (q >>> 4);
                    }
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < cols / 32; b++) System.arraycopy(row, ro + 34 * b + 2, vals, vo + 32 * b, 32);
            }
            case Q4_K -> {
                for (int sb = 0; sb < cols / 256; sb++) {
                    for (int i = 0; i < 4; i++) {
                        for (int l = 0; l < 32; l++) {
                            int q = row[ro + 144 * sb + 16 + 32 * i + l] & 0xFF;
                            vals[vo + 256 * sb + 64 * i + l] = (byte) (q & 0xF);
                            vals[vo + 256 * sb + 64 * i + 32 + l] = (byte) (q >>> 4);
                        }
                    }
                }
            }
            case Q6_K -> {
                for (int sb = 0; sb < cols / 256; sb++) {
                    int o = ro + 210 * sb;
                    for (int half = 0; half < 2; half++) {
                        for (int l = 0; l < 32; l++) {
                            int a = row[o + 64 * half + l] & 0xFF, b = row[o + 64 * half + 32 + l] & 0xFF;
                            int h = row[o + 128 + 32 * half + l] & 0xFF;
                            int e = vo + 256 * sb + 128 * half + l;
                            vals[e] = (byte) ((a & 0xF) | ((h & 3) << 4));
                            vals[e + 32] = (byte) ((b & 0xF) | (((h >>> 2) & 3) << 4));
                            vals[e + 64] = (byte) ((a >>> 4) | (((h >>> 4) & 3) << 4));
                            vals[e + 96] = (byte) ((b >>> 4) | (((h >>> 6) & 3) << 4));
                        }
                    }
                }
            }
            case Q3_K -> {
                // ggml's Q3_K: column c of a super-block takes bits 2j..2j+1 of qs[32h + c%32] and bit 4h + j of
                // hmask[c%32] (h = c/128, j = c%128/32); the weight is that u minus 4.
                for (int sb = 0; sb < cols / 256; sb++) {
                    int o = ro + 110 * sb;
                    for (int c = 0; c < 256; c++) {
                        int h = c >>> 7, j = (c & 127) >>> 5, l = c & 31;
                        int low = ((row[o + 32 + 32 * h + l] & 0xFF) >>> (2 * j)) & 3;
                        int high = ((row[o + l] & 0xFF) >>> (4 * h + j)) & 1;
                        vals[vo + 256 * sb + c] = (byte) (low | high << 2);
                    }
                }
            }
            case Q4_1 -> {
                for (int b = 0; b < cols / 32; b++) {
                    for (int j = 0; j < 16; j++) {
                        int q = row[ro + 20 * b + 4 + j] & 0xFF;
                        vals[vo + 32 * b + j] = (byte) (q & 0xF);
                        vals[vo + 32 * b + 16 + j] = (byte) (q >>> 4);
                    }
                }
            }
            case Q5_0, Q5_1 -> {
                // ggml's Q5_0 / Q5_1: bit j of the u32 qh is the fifth bit of element j (j < 32).
                int bytes = type == GgmlType.Q5_0 ? 22 : 24, qho = bytes - 20;
                for (int b = 0; b < cols / 32; b++) {
                    int o = ro + bytes * b;
                    int qh = (row[o + qho] & 0xFF) | (row[o + qho + 1] & 0xFF) << 8 | (row[o + qho + 2] & 0xFF) << 16
                            | (row[o + qho + 3] & 0xFF) << 24;
                    for (int j = 0; j < 16; j++) {
                        int q = row[o + qho + 4 + j] & 0xFF;
                        vals[vo + 32 * b + j] = (byte) ((q & 0xF) | ((qh >>> j) & 1) << 4);
                        vals[vo + 32 * b + 16 + j] = (byte) ((q >>> 4) | ((qh >>> (j + 16)) & 1) << 4);
                    }
                }
            }
            case Q2_K -> {
                // ggml's Q2_K: column c takes bits 2j..2j+1 of qs[32h + c%32] (h = c/128, j = c%128/32).
                for (int sb = 0; sb < cols / 256; sb++) {
                    int o = ro + 84 * sb;
                    for (int c = 0; c < 256; c++) {
                        int h = c >>> 7, j = (c & 127) >>> 5;
                        vals[vo + 256 * sb + c] = (byte) (((row[o + 16 + 32 * h + (c & 31)] & 0xFF) >>> (2 * j)) & 3);
                    }
                }
            }
            case Q5_K -> {
                // ggml's Q5_K: column c (i = c/64, l = c%32) takes the low nibble of qs[32i + l] for c%64 < 32, else the
                // high one, and bit 2i (else 2i + 1) of qh[l] as its fifth bit.
                for (int sb = 0; sb < cols / 256; sb++) {
                    int o = ro + 176 * sb;
                    for (int c = 0; c < 256; c++) {
                        int i = c >>> 6, l = c & 31, second = (c >>> 5) & 1;
                        int q = row[o + 48 + 32 * i + l] & 0xFF;
                        int nib = second == 0 ? q & 0xF : q >>> 4;
                        int high = ((row[o + 16 + l] & 0xFF) >>> (2 * i + second)) & 1;
                        vals[vo + 256 * sb + c] = (byte) (nib | high << 4);
                    }
                }
            }
            default -> throw new AssertionError();
        }
    }

    /** The row (0..R-1 within its group) lane {@code lane} holds. */
    private static int laneRow(int lane) {
        return (lane & 1) == 0 ? lane >>> 1 : R / 2 + (lane >>> 1);
    }

    private static void putShort(byte[] b, int o, int v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >>> 8);
    }

    /** Per lane, the f16 at offset {@code off} of its row's block {@code b} (blocks of {@code bytes}), to {@code out[at..]}. */
    private static void halves(byte[] rows, int rb, int b, int bytes, int off, byte[] out, int at) {
        for (int lane = 0; lane < R; lane++) {
            int src = laneRow(lane) * rb + b * bytes + off;
            out[at + 2 * lane] = rows[src];
            out[at + 2 * lane + 1] = rows[src + 1];
        }
    }

    /** A nibble vector: per lane, the low 4 bits of columns c..c+3 of its row as four nibbles. */
    private void nibbles(byte[] vals, int c, byte[] out, int at) {
        for (int lane = 0; lane < R; lane++) {
            int vo = laneRow(lane) * cols + c;
            putShort(out, at + 2 * lane, (vals[vo] & 0xF) | ((vals[vo + 1] & 0xF) << 4) | ((vals[vo + 2] & 0xF) << 8)
                    | ((vals[vo + 3] & 0xF) << 12));
        }
    }

    private void assembleQ4_0(byte[] rows, int rb, byte[] vals, byte[] out) {
        int nb = cols / 32;
        int v = 2 * R * nb;
        for (int b = 0; b < nb; b++) {
            halves(rows, rb, b, 18, 0, out, 2 * R * b);
            for (int t = 0; t < 8; t++) nibbles(vals, 32 * b + 4 * t, out, v + 16 * R * b + 2 * R * t);
        }
    }

    private void assembleQ8_0(byte[] rows, int rb, byte[] vals, byte[] out) {
        int nb = cols / 32;
        int v = 2 * R * nb;
        for (int b = 0; b < nb; b++) {
            halves(rows, rb, b, 34, 0, out, 2 * R * b);
            // Column bytes in row order (not lane order): the kernel converts R/2 bytes at a time to floats.
            for (int e = 0; e < 32; e++) {
                for (int row = 0; row < R; row++) out[v + 32 * R * b + R * e + row] = vals[row * cols + 32 * b + e];
            }
        }
    }

    private void assembleQ4_K(byte[] rows, int rb, byte[] vals, byte[] out) {
        int ns = cols / 256;
        int v = 20 * R * ns;
        for (int sb = 0; sb < ns; sb++) {
            kHeader(rows, rb, sb, 144, out, 20 * R * sb);
            for (int t = 0; t < 64; t++) nibbles(vals, 256 * sb + 4 * t, out, v + 128 * R * sb + 2 * R * t);
        }
    }

    /**
     * The header of super-block {@code sb} of Q4_K or Q5_K (blocks of {@code blockBytes}; both keep d, dmin and the 12
     * packed scale bytes at offsets 0, 2 and 4) at {@code out[o..o+20R)}: R f16 d, R f16 dmin, then 8 x R 6-bit scales
     * and 8 x R mins as bytes, each R bytes rows 0..R/2-1 then R/2..R-1.
     */
    private static void kHeader(byte[] rows, int rb, int sb, int blockBytes, byte[] out, int o) {
        halves(rows, rb, sb, blockBytes, 0, out, o);
        halves(rows, rb, sb, blockBytes, 2, out, o + 2 * R);
        MemorySegment rs = MemorySegment.ofArray(rows);
        int h = R / 2;
        for (int lane = 0; lane < R; lane++) {
            int half = lane & 1, k = lane >>> 1; // row k of half `half`
            long so = (long) laneRow(lane) * rb + (long) blockBytes * sb + 4;
            for (int j = 0; j < 8; j++) {
                out[o + 4 * R + R * j + h * half + k] = (byte) Dequant.kScale(rs, so, j);
                out[o + 12 * R + R * j + h * half + k] = (byte) Dequant.kMin(rs, so, j);
            }
        }
    }

    private void assembleQ6_K(byte[] rows, int rb, byte[] vals, byte[] out) {
        int ns = cols / 256;
        int v = 18 * R * ns;
        int h = R / 2;
        for (int sb = 0; sb < ns; sb++) {
            int o = 18 * R * sb;
            halves(rows, rb, sb, 210, 208, out, o);
            for (int lane = 0; lane < R; lane++) {
                int half = lane & 1, k = lane >>> 1;
                int so = laneRow(lane) * rb + 210 * sb + 192;
                for (int j = 0; j < 16; j++) out[o + 2 * R + R * j + h * half + k] = rows[so + j];
            }
            // Per 8 columns, three vectors: A = q0 | q1<<6 | lo(q6)<<12, B = q2 | q3<<6 | lo(q7)<<12,
            // C = q4 | q5<<6 | hi(q6)<<12 | hi(q7)<<14 (lo = low 4 bits, hi = high 2 bits).
            for (int t = 0; t < 32; t++) {
                int at = v + 192 * R * sb + 6 * R * t;
                for (int lane = 0; lane < R; lane++) {
                    int vo = laneRow(lane) * cols + 256 * sb + 8 * t;
                    int q0 = vals[vo], q1 = vals[vo + 1], q2 = vals[vo + 2], q3 = vals[vo + 3];
                    int q4 = vals[vo + 4], q5 = vals[vo + 5], q6 = vals[vo + 6], q7 = vals[vo + 7];
                    putShort(out, at + 2 * lane, q0 | q1 << 6 | (q6 & 15) << 12);
                    putShort(out, at + 2 * R + 2 * lane, q2 | q3 << 6 | (q7 & 15) << 12);
                    putShort(out, at + 4 * R + 2 * lane, q4 | q5 << 6 | (q6 >>> 4) << 12 | (q7 >>> 4) << 14);
                }
            }
        }
    }

    private void assembleQ3_K(byte[] rows, int rb, byte[] vals, byte[] out) {
        int ns = cols / 256;
        int v = 18 * R * ns;
        int h = R / 2;
        MemorySegment rs = MemorySegment.ofArray(rows);
        for (int sb = 0; sb < ns; sb++) {
            int o = 18 * R * sb;
            halves(rows, rb, sb, 110, 108, out, o);
            for (int lane = 0; lane < R; lane++) {
                int half = lane & 1, k = lane >>> 1;
                long so = (long) laneRow(lane) * rb + 110L * sb + 96;
                for (int j = 0; j < 16; j++) out[o + 2 * R + R * j + h * half + k] = (byte) Dequant.q3KScale(rs, so, j);
            }
            // Per 16 columns, three vectors of five 3-bit values and one bit of the sixteenth.
            for (int t = 0; t < 16; t++) fieldLanes(vals, 256 * sb + 16 * t, 3, out, v + 96 * R * sb + 6 * R * t);
        }
    }

    private void assembleQ2_K(byte[] rows, int rb, byte[] vals, byte[] out) {
        int ns = cols / 256;
        int v = 20 * R * ns;
        int h = R / 2;
        for (int sb = 0; sb < ns; sb++) {
            int o = 20 * R * sb;
            halves(rows, rb, sb, 84, 80, out, o);
            halves(rows, rb, sb, 84, 82, out, o + 2 * R);
            for (int lane = 0; lane < R; lane++) {
                int half = lane & 1, k = lane >>> 1;
                int so = laneRow(lane) * rb + 84 * sb;
                for (int j = 0; j < 16; j++) out[o + 4 * R + R * j + h * half + k] = rows[so + j];
            }
            // Per 16 columns, two vectors of eight 2-bit values.
            for (int t = 0; t < 16; t++) fieldLanes(vals, 256 * sb + 16 * t, 2, out, v + 64 * R * sb + 4 * R * t);
        }
    }

    private void assembleQ5_K(byte[] rows, int rb, byte[] vals, byte[] out) {
        int ns = cols / 256;
        int v = 20 * R * ns;
        for (int sb = 0; sb < ns; sb++) {
            kHeader(rows, rb, sb, 176, out, 20 * R * sb);
            for (int t = 0; t < 16; t++) fieldLanes(vals, 256 * sb + 16 * t, 5, out, v + 160 * R * sb + 10 * R * t);
        }
    }

    /**
     * The vectors of the 16 columns from {@code c} for values of {@code bits} bits (2, 3 or 5): per lane, as many whole
     * values as fit in 16 bits, at offsets 0, bits, 2 bits, ...; with 3 and 5 bits that leaves 15 values and one spare
     * bit per vector, so vector e also holds bit e of the sixteenth value at bit 15. The {@code bits} vectors go to
     * {@code out[at + 2R*e..]}.
     */
    private void fieldLanes(byte[] vals, int c, int bits, byte[] out, int at) {
        int perLane = 16 / bits, lanesOut = bits;
        for (int lane = 0; lane < R; lane++) {
            int vo = laneRow(lane) * cols + c;
            int last = vals[vo + 15];
            for (int e = 0; e < lanesOut; e++) {
                int lanes = perLane * bits < 16 ? (last >>> e & 1) << 15 : 0;
                for (int f = 0; f < perLane; f++) lanes |= vals[vo + perLane * e + f] << (bits * f);
                putShort(out, at + 2 * R * e + 2 * lane, lanes);
            }
        }
    }

    private void assembleLegacy(byte[] rows, int rb, byte[] vals, byte[] out) {
        int nb = cols / 32;
        boolean min = type != GgmlType.Q5_0;
        int bytes = type == GgmlType.Q4_1 ? 20 : type == GgmlType.Q5_0 ? 22 : 24;
        int hs = (min ? 4 : 2) * R, vb = (type == GgmlType.Q4_1 ? 16 : 20) * R;
        int v = hs * nb;
        for (int b = 0; b < nb; b++) {
            halves(rows, rb, b, bytes, 0, out, hs * b);
            if (min) halves(rows, rb, b, bytes, 2, out, hs * b + 2 * R);
            if (type == GgmlType.Q4_1) {
                for (int t = 0; t < 8; t++) nibbles(vals, 32 * b + 4 * t, out, v + vb * b + 2 * R * t);
            } else {
                for (int t = 0; t < 2; t++) fieldLanes(vals, 32 * b + 16 * t, 5, out, v + vb * b + 10 * R * t);
            }
        }
    }
}
