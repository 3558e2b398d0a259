package io.strata.metal;

import java.util.ArrayList;
import java.util.List;

/**
 * How a region of host memory (a tensor in the mapped model file) is wrapped in Metal buffers without copying.
 *
 * <p>{@code newBufferWithBytesNoCopy} wants a page-aligned pointer and a length that is a whole number of pages,
 * and no buffer may be longer than {@code maxBufferLength}. The region is widened to page boundaries (a file
 * mapping is page-granular, so the widened range is still mapped) and, when that is too long for one buffer, cut
 * into windows of at most {@code maxBufferLength} that overlap by more than one row, so every row lies wholly in
 * some window and a matrix product can run as a few dispatches over consecutive row ranges (as ggml's
 * overlapping views do for whole files).
 */
public final class NoCopyWindows {

    /** One buffer to create: {@code length} bytes from host address {@code address}. */
    public record Window(long address, long length) {
        public long end() {
            return address + length;
        }
    }

    private NoCopyWindows() {
    }

    public static long alignDown(long v, long page) {
        return Math.floorDiv(v, page) * page;
    }

    public static long alignUp(long v, long page) {
        return Math.floorDiv(v + page - 1, page) * page;
    }

    /**
     * Windows covering {@code [address, address + length)} widened to {@code page} boundaries. Consecutive windows
     * start {@code W - overlap} apart, where {@code W} is {@code maxBufferLength} rounded down to pages and the
     * overlap is {@code maxRowBytes} rounded up to pages plus one page.
     *
     * @throws IllegalArgumentException when one row cannot fit in a buffer
     */
    public static List<Window> plan(long address, long length, long page, long maxBufferLength, long maxRowBytes) {
        if (page <= 0 || Long.bitCount(page) != 1) {
            throw new IllegalArgumentException("page size must be a power of two: " + page);
        }
        if (length <= 0) {
            throw new IllegalArgumentException("cannot wrap an empty region");
        }
        long start = alignDown(address, page);
        long end = alignUp(address + length, page);
        long w = alignDown(maxBufferLength, page);
        List<Window> out = new ArrayList<>();
        if (end - start <= w) {
            out.add(new Window(start, end - start));
            return out;
        }
        long overlap = alignUp(maxRowBytes, page) + page;
        if (overlap >= w) {
            throw new IllegalArgumentException("a row of " + maxRowBytes + " bytes does not fit in a Metal buffer of at most "
                    + maxBufferLength + " bytes (maxBufferLength) with " + page + "-byte pages");
        }
        long step = w - overlap;
        for (long s = start; ; s += step) {
            long len = Math.min(w, end - s);
            out.add(new Window(s, len));
            if (s + len >= end) {
                return out;
            }
        }
    }

    /** Index of the window to use for bytes starting at {@code address}: the last one that starts at or before it. */
    public static int find(List<Window> windows, long address) {
        int lo = 0;
        int hi = windows.size() - 1;
        if (windows.isEmpty() || address < windows.get(0).address()) {
            throw new IllegalArgumentException("address 0x" + Long.toHexString(address) + " is before the first window");
        }
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (windows.get(mid).address() <= address) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }
}
