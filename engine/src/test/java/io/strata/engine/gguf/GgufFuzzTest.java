package io.strata.engine.gguf;

import io.strata.engine.tensor.Tensor;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Random damage to a real fixture's header (fixed seed, bounded count): opening must either succeed or throw a
 * {@link GgufException}, never another exception, and never hang (one deadline for the whole run).
 */
class GgufFuzzTest {

    private static final long SEED = 20240917L;
    private static final int FLIPS = 4000;
    private static final int CUTS = 600;
    /** Values that tend to hit edge cases when written over a count, a length, a type or a dimension. */
    private static final long[] SPECIAL = {0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 15, 16, 31, 32, 33, 255, 256, 0x7f, 0x80,
            0xffff, 0x7fffffff, 0x80000000L, 0xffffffffL, 1L << 32, 1L << 40, (1L << 40) + 1, 1L << 62, Long.MAX_VALUE,
            Long.MIN_VALUE, -1L, -32L};

    @TempDir
    Path dir;

    @Test
    void damagedHeadersOnlyEverFailWithGgufException() throws IOException {
        Path fixture = Fixtures.path("tiny/tiny-Q8_0.gguf");
        byte[] original = Files.readAllBytes(fixture);
        int dataStart;
        try (GgufFile g = GgufFile.open(fixture)) {
            dataStart = (int) g.tensorInfos().values().iterator().next().fileOffset();
        }
        Path f = dir.resolve("fuzz.gguf");
        Files.write(f, original);
        Random rnd = new Random(SEED);
        int[] outcome = new int[2]; // opened, refused
        assertTimeoutPreemptively(Duration.ofMinutes(3), () -> {
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                for (int i = 0; i < FLIPS; i++) {
                    // 1 to 4 damaged spots in the header (or just past it); restored afterwards
                    int spots = 1 + rnd.nextInt(4);
                    int[] at = new int[spots];
                    byte[][] saved = new byte[spots][];
                    for (int s = 0; s < spots; s++) {
                        byte[] patch = damage(rnd);
                        at[s] = rnd.nextInt(Math.max(1, dataStart + 64 - patch.length));
                        if (patch.length == 1 && patch[0] == 0 && rnd.nextBoolean()) {
                            patch[0] = (byte) (original[at[s]] ^ (1 << rnd.nextInt(8))); // a single flipped bit
                        }
                        saved[s] = Arrays.copyOfRange(original, at[s], at[s] + patch.length);
                        ch.write(ByteBuffer.wrap(patch), at[s]);
                    }
                    outcome[tryOpen(f, "flip " + i)]++;
                    for (int s = spots - 1; s >= 0; s--) ch.write(ByteBuffer.wrap(saved[s]), at[s]);
                }
            }
            for (int i = 0; i < CUTS; i++) {
                // mostly inside the header, sometimes anywhere in the data
                int len = i % 4 == 3 ? rnd.nextInt(original.length) : rnd.nextInt(dataStart + 64);
                Path cut = dir.resolve("cut.gguf");
                Files.write(cut, Arrays.copyOf(original, len));
                outcome[tryOpen(cut, "cut to " + len)]++;
            }
        });
        assertEquals(FLIPS + CUTS, outcome[0] + outcome[1]);
        // the damage is real: most damaged files are refused
        if (outcome[1] < (FLIPS + CUTS) / 2) fail("only " + outcome[1] + " of " + (FLIPS + CUTS) + " damaged files were refused");
        // the undamaged file is back and opens
        assertEquals(-1L, Files.mismatch(fixture, f));
    }

    private static byte[] damage(Random rnd) {
        return switch (rnd.nextInt(4)) {
            case 0 -> new byte[]{0}; // a zero byte, or (decided by the caller, who knows the original) one flipped bit
            case 1 -> new byte[]{(byte) rnd.nextInt(256)};
            case 2 -> le(SPECIAL[rnd.nextInt(SPECIAL.length)], 4);
            default -> le(SPECIAL[rnd.nextInt(SPECIAL.length)], 8);
        };
    }

    private static byte[] le(long v, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (v >>> (8 * i));
        return b;
    }

    /** 0 if the file opened (and every tensor view is readable at both ends), 1 if refused with a GgufException. */
    private static int tryOpen(Path f, String what) {
        try (GgufFile g = GgufFile.open(f)) {
            for (String key : g.metadata().keys()) g.metadata().get(key);
            for (String name : g.tensorInfos().keySet()) {
                Tensor t = g.tensor(name);
                t.data().get(ValueLayout.JAVA_BYTE, 0);
                t.data().get(ValueLayout.JAVA_BYTE, t.data().byteSize() - 1);
            }
            g.fingerprint();
            return 0;
        } catch (GgufException e) {
            if (!e.getMessage().startsWith(f + ": ")) fail(what + ": message does not name the file: " + e.getMessage());
            return 1;
        } catch (Throwable t) {
            throw new AssertionError(what + ": " + t, t);
        }
    }
}
