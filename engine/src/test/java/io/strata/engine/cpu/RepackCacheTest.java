package io.strata.engine.cpu;

import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.backend.WeightOrigin;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.tensor.Tensor;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The repack cache gives exactly the weights interleaving at load gives: stored copies equal fresh ones byte for byte,
 * logits through a cache hit equal those without a cache bit for bit, and damaged, stale or half-written files are
 * detected and rebuilt, never used.
 */
class RepackCacheTest {

    private static final int[] PROMPT = {312, 292, 220, 268, 269, 64, 288, 82};

    /** Logits of the last prompt row through a full-model stage on {@code backend}. */
    private static float[] logits(Path model, CpuBackend backend) {
        try (GgufFile file = GgufFile.open(model)) {
            ModelConfig cfg = ModelConfig.from(file);
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, 16);
            float[] out = new float[cfg.vocab()];
            try (KvCache c = stage.newCache(16, KvType.F32)) {
                stage.forward(Step.ofSequence(PROMPT, 0, c, false), out);
            }
            return out;
        }
    }

    private static List<Path> cacheFiles(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"kq/kq-Q4_0.gguf", "kq/kq-Q8_0.gguf", "kq/kq-Q4_K_M.gguf", "kq/kq-Q6_K.gguf", "kq/kq-Q3_K_M.gguf", "kq/kq-Q2_K.gguf", "kq/kq-Q5_K_M.gguf",
            "tiny/tiny-Q4_1.gguf", "tiny/tiny-Q5_1.gguf"})
    void aCacheHitGivesBitIdenticalLogits(String name, @TempDir Path dir) throws IOException {
        Path model = Fixtures.path(name);
        float[] none;
        try (CpuBackend b = new CpuBackend(1, null)) {
            none = logits(model, b);
            CpuBackend.PrepareStats s = b.prepareStats();
            assertTrue(s.temporary() > 0, name + ": no weight was interleaved: " + s);
        }
        float[] miss;
        int stored;
        try (CpuBackend b = new CpuBackend(1, new RepackCache(dir))) {
            miss = logits(model, b);
            CpuBackend.PrepareStats s = b.prepareStats();
            stored = s.stored();
            assertEquals(0, s.fromCache(), s.toString());
            assertEquals(0, s.temporary(), s.toString());
        }
        assertEquals(stored, cacheFiles(dir).size(), "one file per interleaved weight, no temporary files left");
        float[] hit;
        try (CpuBackend b = new CpuBackend(2, new RepackCache(dir))) {
            hit = logits(model, b);
            CpuBackend.PrepareStats s = b.prepareStats();
            assertEquals(stored, s.fromCache(), s.toString());
            assertEquals(0, s.stored() + s.temporary(), s.toString());
        }
        assertArrayEquals(none, miss, name + ": logits while writing the cache");
        assertArrayEquals(none, hit, name + ": logits from the cache");
    }

    @Test
    void storedCopiesEqualFreshInterleavingByteForByte(@TempDir Path dir) {
        Path model = Fixtures.path("kq/kq-Q4_K_M.gguf");
        RepackCache cache = new RepackCache(dir);
        try (GgufFile file = GgufFile.open(model); Arena arena = Arena.ofConfined()) {
            int checked = 0;
            for (String n : file.tensorInfos().keySet()) {
                Tensor w = file.tensor(n);
                if (!Repacked.supports(w.type()) || w.shape().length < 2) continue;
                WeightOrigin o = WeightOrigin.of(model, file.tensorInfos().get(n).fileOffset());
                Repacked fresh = Repacked.of(w, arena);
                Repacked written = assertDoesNotThrowIo(() -> cache.create(w, o));
                Repacked read = cache.open(w, o);
                assertEquals(-1, fresh.data().mismatch(written.data()), n + ": written copy");
                assertEquals(-1, fresh.data().mismatch(read.data()), n + ": copy read back");
                assertTrue(read.data().isReadOnly(), n + ": stored copies are mapped read-only");
                // The copy starts the file (so that it starts on a 2 MiB boundary), the header page ends it.
                byte[] onDisk = assertDoesNotThrowIo(() -> Files.readAllBytes(cache.file(w, o)));
                assertEquals(RepackCache.headerAt(fresh.data().byteSize()) + RepackCache.HEADER, onDisk.length, n + ": file size");
                assertEquals(-1, fresh.data().mismatch(MemorySegment.ofArray(onDisk).asSlice(0, fresh.data().byteSize())), n + ": copy at offset 0");
                checked++;
            }
            assertTrue(checked >= 7, "checked " + checked + " tensors");
        } finally {
            cache.close();
        }
    }

    private interface IoSupplier<T> {
        T get() throws IOException;
    }

    private static <T> T assertDoesNotThrowIo(IoSupplier<T> s) {
        try {
            return s.get();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void damagedStaleAndHalfWrittenFilesAreRebuiltNotUsed(@TempDir Path dir) throws IOException {
        Path model = Fixtures.path("kq/kq-Q4_K_M.gguf");
        float[] expected;
        try (CpuBackend b = new CpuBackend(1, new RepackCache(dir))) {
            expected = logits(model, b);
        }
        List<Path> files = cacheFiles(dir);
        assertTrue(files.size() >= 5, files.toString());
        Path flipped = files.get(0), truncated = files.get(1), badMagic = files.get(2), oldLayout = files.get(3), empty = files.get(4);
        byte[] before = Files.readAllBytes(flipped);
        // one bit of the weights flipped
        try (FileChannel ch = FileChannel.open(flipped, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long at = (ch.size() - RepackCache.HEADER) / 2; // the copy comes first, the header page last
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x10)).rewind();
            ch.write(b, at);
        }
        // the end cut off, as a crash while writing without the rename would have left it
        try (FileChannel ch = FileChannel.open(truncated, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 4096);
        }
        // not a cache file
        try (FileChannel ch = FileChannel.open(badMagic, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("GGUFxxxx".getBytes()), ch.size() - RepackCache.HEADER);
        }
        // written by another layout version
        try (FileChannel ch = FileChannel.open(oldLayout, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(0, Repacked.LAYOUT_VERSION + 7),
                    ch.size() - RepackCache.HEADER + 12);
        }
        Files.write(empty, new byte[0]);
        try (CpuBackend b = new CpuBackend(1, new RepackCache(dir))) {
            float[] again = logits(model, b);
            CpuBackend.PrepareStats s = b.prepareStats();
            assertEquals(5, s.stored(), "the five damaged copies are rebuilt: " + s);
            assertEquals(files.size() - 5, s.fromCache(), s.toString());
            assertArrayEquals(expected, again, "logits with damaged cache files");
        }
        assertArrayEquals(before, Files.readAllBytes(flipped), "the flipped copy was rewritten");
        try (CpuBackend b = new CpuBackend(1, new RepackCache(dir))) {
            assertArrayEquals(expected, logits(model, b));
            assertEquals(files.size(), b.prepareStats().fromCache(), "every copy valid again: " + b.prepareStats());
        }
        assertEquals(files, cacheFiles(dir), "rebuilt in place, nothing else left behind");
    }

    @Test
    void aChangedOrDeletedSourceIsNotReusedAndIsPruned(@TempDir Path dir, @TempDir Path models) throws IOException {
        Path copy = models.resolve("m.gguf");
        Files.copy(Fixtures.path("kq/kq-Q4_0.gguf"), copy);
        float[] expected;
        try (CpuBackend b = new CpuBackend(1, new RepackCache(dir))) {
            expected = logits(copy, b);
        }
        int n = cacheFiles(dir).size();
        assertTrue(n > 0);
        // same bytes, new modification time: the copies are not trusted, new ones are written
        Files.setLastModifiedTime(copy, java.nio.file.attribute.FileTime.fromMillis(Files.getLastModifiedTime(copy).toMillis() - 60_000));
        try (CpuBackend b = new CpuBackend(1, new RepackCache(dir))) {
            assertArrayEquals(expected, logits(copy, b));
            assertEquals(n, b.prepareStats().stored(), b.prepareStats().toString());
        }
        assertEquals(n, cacheFiles(dir).size(), "the first write pruned the copies of the old version");
        Files.delete(copy);
        try (CpuBackend b = new CpuBackend(1, new RepackCache(dir))) {
            logits(Fixtures.path("kq/kq-Q8_0.gguf"), b);
            int m = b.prepareStats().stored() + b.prepareStats().fromCache();
            assertEquals(m, cacheFiles(dir).size(), "copies of the deleted file are pruned, only the new model's remain");
        }
    }

    @Test
    void anUnwritableCacheFallsBackToTemporaryFiles(@TempDir Path dir) throws IOException {
        Path notADir = dir.resolve("file");
        Files.write(notADir, new byte[]{1});
        Path model = Fixtures.path("kq/kq-Q4_0.gguf");
        float[] expected;
        try (CpuBackend b = new CpuBackend(1, null)) {
            expected = logits(model, b);
        }
        try (CpuBackend b = new CpuBackend(1, new RepackCache(notADir.resolve("cache")))) {
            assertArrayEquals(expected, logits(model, b));
            CpuBackend.PrepareStats s = b.prepareStats();
            assertEquals(0, s.stored() + s.fromCache(), s.toString());
            assertTrue(s.temporary() > 0, s.toString());
        }
    }

    @Test
    void twoProcessesWritingAtOnceLeaveAValidCache(@TempDir Path dir) throws Exception {
        Path model = Fixtures.path("kq/kq-Q4_K_M.gguf");
        Path cache = dir.resolve("cache");
        Path go = dir.resolve("go");
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<Process> procs = new ArrayList<>();
        List<Path> outs = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            Path out = dir.resolve("out" + i);
            outs.add(out);
            procs.add(new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                    "-cp", System.getProperty("java.class.path"), Writer.class.getName(), model.toString(), cache.toString(),
                    dir.resolve("ready" + i).toString(), go.toString(), out.toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("log" + i).toFile()).start());
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!(Files.exists(dir.resolve("ready0")) && Files.exists(dir.resolve("ready1")))) {
            for (int i = 0; i < 2; i++) {
                assertTrue(procs.get(i).isAlive(), "writer " + i + " died: " + Files.readString(dir.resolve("log" + i)));
            }
            assertTrue(System.nanoTime() < deadline, "writers did not get ready");
            LockSupport.parkNanos(1_000_000); // poll until the deadline
        }
        Files.createFile(go);
        for (int i = 0; i < 2; i++) {
            assertTrue(procs.get(i).waitFor(120, TimeUnit.SECONDS), "writer " + i + " did not finish");
            assertEquals(0, procs.get(i).exitValue(), "writer " + i + ": " + Files.readString(dir.resolve("log" + i)));
        }
        float[] expected;
        try (CpuBackend b = new CpuBackend(1, null)) {
            expected = logits(model, b);
        }
        for (Path out : outs) assertArrayEquals(expected, readFloats(out), out + ": logits of a writer");
        List<Path> files = cacheFiles(cache);
        assertFalse(files.stream().anyMatch(p -> p.getFileName().toString().contains(".tmp-")), "temporary files left: " + files);
        try (CpuBackend b = new CpuBackend(1, new RepackCache(cache))) {
            assertArrayEquals(expected, logits(model, b));
            assertEquals(files.size(), b.prepareStats().fromCache(), "every copy valid: " + b.prepareStats());
        }
    }

    private static float[] readFloats(Path p) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p));
        float[] f = new float[b.remaining() / 4];
        b.asFloatBuffer().get(f);
        return f;
    }

    /** A writer process: waits for the go file, loads the model through the cache, writes its logits. */
    public static final class Writer {
        public static void main(String[] a) throws Exception {
            Path model = Path.of(a[0]);
            Files.createFile(Path.of(a[2]));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.exists(Path.of(a[3]))) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("no go");
                LockSupport.parkNanos(1_000_000); // poll until the deadline
            }
            float[] l;
            try (CpuBackend b = new CpuBackend(1, new RepackCache(Path.of(a[1])))) {
                l = logits(model, b);
                System.out.println(b.prepareStats());
            }
            ByteBuffer out = ByteBuffer.allocate(4 * l.length);
            out.asFloatBuffer().put(l);
            Files.write(Path.of(a[4]), out.array());
        }
    }

    @Test
    void copiesInTheFirstFormatArePrunedOtherFilesKept(@TempDir Path dir) throws IOException {
        // Format 1 put the header page first.
        Path old = dir.resolve("blk.0.attn_q.weight.0123456789abcdef0123.repack");
        ByteBuffer h = ByteBuffer.allocate(2 * RepackCache.HEADER).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        h.putLong(0, RepackCache.MAGIC).putInt(8, 1).putInt(12, Repacked.LAYOUT_VERSION);
        Files.write(old, h.array());
        Path other = dir.resolve("notes.repack");
        Files.writeString(other, "not a cache file");
        try (CpuBackend b = new CpuBackend(1, new RepackCache(dir))) {
            logits(Fixtures.path("kq/kq-Q4_0.gguf"), b);
            assertTrue(b.prepareStats().stored() > 0, b.prepareStats().toString());
        }
        assertFalse(Files.exists(old), "a copy in format 1 is deleted by the first write");
        assertTrue(Files.exists(other), "a file that is not a copy is left alone");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aClosedStageUnmapsItsCopiesAndALaterStageMakesItsOwn(boolean withCache, @TempDir Path dir) throws IOException {
        Path model = Fixtures.path("kq/kq-Q4_0.gguf");
        float[] expected;
        try (CpuBackend b = new CpuBackend(1, null)) {
            expected = logits(model, b);
        }
        try (CpuBackend b = new CpuBackend(1, withCache ? new RepackCache(dir) : null);
             GgufFile file = GgufFile.open(model)) {
            ModelConfig cfg = ModelConfig.from(file);
            for (int round = 0; round < 2; round++) {
                Stage stage = Stage.load(file, cfg, 0, cfg.layers(), b, 16);
                b.awaitPrepared();
                int copies = b.weightCopyFiles().size();
                CpuBackend.PrepareStats st = b.prepareStats();
                assertEquals(withCache ? st.stored() + st.fromCache() : st.temporary(), copies * (round + 1), "round " + round + ": " + st);
                assertTrue(copies > 0, st.toString());
                float[] out = new float[cfg.vocab()];
                try (KvCache c = stage.newCache(16, KvType.F32)) {
                    stage.forward(Step.ofSequence(PROMPT, 0, c, false), out);
                }
                assertArrayEquals(expected, out, "round " + round);
                stage.close();
                assertEquals(java.util.Set.of(), b.weightCopyFiles(), "round " + round + ": every copy unmapped with its stage");
            }
        }
    }

    @Test
    void openReturnsNullForAMissingFile(@TempDir Path dir) {
        try (GgufFile file = GgufFile.open(Fixtures.path("kq/kq-Q8_0.gguf")); RepackCache cache = new RepackCache(dir)) {
            Tensor w = file.tensor("blk.0.attn_q.weight");
            assertNull(cache.open(w, WeightOrigin.of(file.path(), 0)));
        }
    }
}
