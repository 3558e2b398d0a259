package io.strata.metal;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Page alignment and splitting of zero-copy weight buffers. */
class NoCopyWindowsTest {
    static final long PAGE = 16384;

    @Test
    void aSmallRegionIsWidenedToPages() {
        List<NoCopyWindows.Window> w = NoCopyWindows.plan(3 * PAGE + 100, 5000, PAGE, 1L << 30, 64);
        assertEquals(List.of(new NoCopyWindows.Window(3 * PAGE, PAGE)), w);
        w = NoCopyWindows.plan(3 * PAGE + 100, PAGE, PAGE, 1L << 30, 64);
        assertEquals(List.of(new NoCopyWindows.Window(3 * PAGE, 2 * PAGE)), w);
    }

    @Test
    void everyRowLiesWhollyInTheWindowFindPicks() {
        Random r = new Random(1);
        for (int trial = 0; trial < 200; trial++) {
            long rowBytes = 1 + r.nextInt(40000);
            long rows = 1 + r.nextInt(5000);
            long address = PAGE * (1 + r.nextInt(1000)) + 32L * r.nextInt(512);
            long maxLen = PAGE * (4 + r.nextInt(60)) + r.nextInt(1000);
            if (NoCopyWindows.alignUp(rowBytes, PAGE) + PAGE >= NoCopyWindows.alignDown(maxLen, PAGE)) {
                long finalMaxLen = maxLen;
                long finalRowBytes = rowBytes;
                if (rows * rowBytes + PAGE > maxLen) {
                    assertThrows(IllegalArgumentException.class,
                            () -> NoCopyWindows.plan(address, rows * finalRowBytes, PAGE, finalMaxLen, finalRowBytes));
                }
                continue;
            }
            List<NoCopyWindows.Window> ws = NoCopyWindows.plan(address, rows * rowBytes, PAGE, maxLen, rowBytes);
            assertEquals(NoCopyWindows.alignDown(address, PAGE), ws.get(0).address());
            assertTrue(ws.get(ws.size() - 1).end() >= address + rows * rowBytes);
            for (NoCopyWindows.Window w : ws) {
                assertEquals(0, w.address() % PAGE, "window start page-aligned");
                assertEquals(0, w.length() % PAGE, "window length whole pages");
                assertTrue(w.length() <= maxLen, "window within maxBufferLength");
            }
            for (long row = 0; row < rows; row++) {
                long a = address + row * rowBytes;
                NoCopyWindows.Window w = ws.get(NoCopyWindows.find(ws, a));
                assertTrue(w.address() <= a && a + rowBytes <= w.end(), "row " + row + " of " + rowBytes + " bytes in " + w);
            }
        }
    }

    @Test
    void aRowLargerThanABufferIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NoCopyWindows.plan(0, 10 * PAGE, PAGE, 3 * PAGE, 2 * PAGE));
        assertTrue(e.getMessage().contains("does not fit"), e.getMessage());
    }
}
