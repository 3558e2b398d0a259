package io.strata.engine.cpu;

import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;

import static io.strata.engine.cpu.Dequant.I16;
import static io.strata.engine.cpu.Dequant.I8;
import static io.strata.engine.cpu.Dequant.u8;

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
 *   <li>Q6_K: header per super-block: R f16 d and 16 x R int8 scales (row halves apart). Values: per super-block 64
 *       nibble vectors of the low 4 bits, then (after all super-blocks' low bits) 32 vectors of high bits per
 *       super-block, vector t holding columns 8t..8t+7 as eight 2-bit fields. Same size as ggml's.</li>
 * </ul>
 * Repacking copies the weights: the copy takes about as much memory as the tensor itself.
 */
public final class Repacked {

    /** Rows per group: the number of shorts in one preferred vector (32 with AVX-512, 16 with AVX2). */
    public static final int R = VectorKernels.SS.length() * 2;

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
            case Q4_0, Q8_0, Q4_K, Q6_K -> true;
            default -> false;
        };
    }

    /** Bytes one group of R rows takes in the interleaved layout of {@code type}, for rows of {@code cols} values. */
    static long groupBytes(GgmlType type, int cols) {
        return switch (type) {
            case Q4_0 -> (long) (cols / 32) * 18 * R;
            case Q8_0 -> (long) (cols / 32) * 34 * R;
            case Q4_K -> (long) (cols / 256) * 148 * R;
            case Q6_K -> (long) (cols / 256) * 210 * R;
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
        for (int g = 0; g < p.groups; g++) {
            switch (w.type()) {
                case Q4_0 -> p.packQ4_0(g);
                case Q8_0 -> p.packQ8_0(g);
                case Q4_K -> p.packQ4_K(g);
                case Q6_K -> p.packQ6_K(g);
                default -> throw new AssertionError();
            }
        }
        return p;
    }

    /** Whether every f16 scale (d, and dmin for Q4_K) of {@code w} is finite. */
    static boolean finiteScales(Tensor w) {
        GgmlType t = w.type();
        int[] at = switch (t) {
            case Q4_0, Q8_0 -> new int[]{0};
            case Q4_K -> new int[]{0, 2};
            case Q6_K -> new int[]{208};
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

    /** The row held by lane {@code lane} of group {@code g}, or -1 for a padding row. */
    int rowOf(int g, int lane) {
        int r = R * g + ((lane & 1) == 0 ? lane >>> 1 : R / 2 + (lane >>> 1));
        return r < rows ? r : -1;
    }

    /** Byte offset of row {@code r}'s block {@code b} in the source. */
    private long src(int r, int b) {
        return r * source.rowBytes() + (long) b * type.typeSize;
    }

    private MemorySegment s() {
        return source.data();
    }

    /** Writes the four nibbles (columns c..c+3 of each lane's row) of one nibble vector at {@code at}. */
    private interface Nibble {
        int q(int r, int c);
    }

    private void nibbleVector(long at, int g, int c, Nibble q) {
        for (int lane = 0; lane < R; lane++) {
            int r = rowOf(g, lane);
            int v = 0;
            if (r >= 0) {
                for (int j = 0; j < 4; j++) v |= q.q(r, c + j) << (4 * j);
            }
            data.set(I16, at + 2L * lane, (short) v);
        }
    }

    private void packQ4_0(int g) {
        int nb = cols / 32;
        long o = g * groupBytes;
        long v = o + 2L * R * nb;
        for (int b = 0; b < nb; b++) {
            for (int lane = 0; lane < R; lane++) {
                int r = rowOf(g, lane);
                data.set(I16, o + 2L * R * b + 2L * lane, r < 0 ? 0 : s().get(I16, src(r, b)));
            }
            final int blk = b;
            for (int t = 0; t < 8; t++) {
                nibbleVector(v + 16L * R * b + 2L * R * t, g, 4 * t, (r, e) -> {
                    int q = u8(s(), src(r, blk) + 2 + (e & 15));
                    return e < 16 ? q & 0xF : q >>> 4;
                });
            }
        }
    }

    private void packQ8_0(int g) {
        int nb = cols / 32;
        long o = g * groupBytes;
        long v = o + 2L * R * nb;
        for (int b = 0; b < nb; b++) {
            for (int lane = 0; lane < R; lane++) {
                int r = rowOf(g, lane);
                data.set(I16, o + 2L * R * b + 2L * lane, r < 0 ? 0 : s().get(I16, src(r, b)));
                // Column bytes in row order (not lane order): the kernel converts R/2 bytes at a time to floats.
                int row = (lane & 1) == 0 ? lane >>> 1 : R / 2 + (lane >>> 1);
                for (int e = 0; e < 32; e++) {
                    data.set(I8, v + 32L * R * b + (long) R * e + row, r < 0 ? 0 : s().get(I8, src(r, b) + 2 + e));
                }
            }
        }
    }

    private void packQ4_K(int g) {
        int ns = cols / 256;
        long base = g * groupBytes;
        long v = base + 20L * R * ns;
        int h = R / 2;
        for (int sb = 0; sb < ns; sb++) {
            long o = base + 20L * R * sb;
            for (int lane = 0; lane < R; lane++) {
                int r = rowOf(g, lane);
                long so = r < 0 ? 0 : src(r, sb);
                data.set(I16, o + 2L * lane, r < 0 ? 0 : s().get(I16, so));
                data.set(I16, o + 2L * R + 2L * lane, r < 0 ? 0 : s().get(I16, so + 2));
                int half = lane & 1, k = lane >>> 1; // row k of half `half`
                for (int j = 0; j < 8; j++) {
                    long at = o + 4L * R + (long) R * j + (long) h * half + k;
                    data.set(I8, at, (byte) (r < 0 ? 0 : Dequant.kScale(s(), so + 4, j)));
                    data.set(I8, at + 8L * R, (byte) (r < 0 ? 0 : Dequant.kMin(s(), so + 4, j)));
                }
            }
            final int blk = sb;
            for (int t = 0; t < 64; t++) {
                nibbleVector(v + 128L * R * sb + 2L * R * t, g, 4 * t, (r, e) -> {
                    int j = e / 32, l = e % 32;
                    int q = u8(s(), src(r, blk) + 16 + 32 * (j / 2) + l);
                    return (j & 1) == 0 ? q & 0xF : q >>> 4;
                });
            }
        }
    }

    /** The 6-bit value (0..63) of element {@code e} of the Q6_K block at {@code o}. */
    static int q6(MemorySegment s, long o, int e) {
        int half = e / 128, k = (e % 128) / 32, l = e % 32;
        int lo = (u8(s, o + 64L * half + l + 32 * (k & 1)) >>> (4 * (k >>> 1))) & 0xF;
        int hi = (u8(s, o + 128 + 32L * half + l) >>> (2 * k)) & 3;
        return lo | (hi << 4);
    }

    private void packQ6_K(int g) {
        int ns = cols / 256;
        long base = g * groupBytes;
        long lo = base + 18L * R * ns;
        long hi = lo + 128L * R * ns;
        int h = R / 2;
        for (int sb = 0; sb < ns; sb++) {
            long o = base + 18L * R * sb;
            for (int lane = 0; lane < R; lane++) {
                int r = rowOf(g, lane);
                long so = r < 0 ? 0 : src(r, sb);
                data.set(I16, o + 2L * lane, r < 0 ? 0 : s().get(I16, so + 208));
                int half = lane & 1, k = lane >>> 1;
                for (int j = 0; j < 16; j++) {
                    data.set(I8, o + 2L * R + (long) R * j + (long) h * half + k, r < 0 ? 0 : s().get(I8, so + 192 + j));
                }
            }
            final int blk = sb;
            for (int t = 0; t < 64; t++) {
                nibbleVector(lo + 128L * R * sb + 2L * R * t, g, 4 * t, (r, e) -> q6(s(), src(r, blk), e) & 0xF);
            }
            for (int t = 0; t < 32; t++) {
                for (int lane = 0; lane < R; lane++) {
                    int r = rowOf(g, lane);
                    int val = 0;
                    if (r >= 0) {
                        for (int j = 0; j < 8; j++) val |= (q6(s(), src(r, blk), 8 * t + j) >>> 4) << (2 * j);
                    }
                    data.set(I16, hi + 64L * R * sb + 2L * R * t + 2L * lane, (short) val);
                }
            }
        }
    }
}
