package io.strata.engine.text;

import io.strata.engine.gguf.GgufStrings;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;

/**
 * A byte-level BPE vocabulary's built tables (the string map and the merge table, {@link BpeModel}), stored on disk so
 * that later starts read them back instead of decoding and hashing hundreds of thousands of merges: the larger part of
 * building a Llama 3 tokenizer on a cold JVM.
 *
 * <p>A file is named by what it was built from: two checksums (CRC32C and CRC32) of the vocabulary's and of the
 * merges' stored bytes, with their sizes, and {@code ignore_merges}. So every GGUF file with the same vocabulary
 * shares one file, and a file whose name matches was built from the same bytes. The header repeats that key and
 * carries a CRC32C of the tables; a file that is truncated, corrupt or from another format version is ignored with a
 * warning and built again. Files are written under a temporary name and renamed into place, so a reader never sees a
 * partial one; a cache that cannot be written is only a warning.
 *
 * <p>{@code -Dstrata.tokenizerCache=DIR} chooses the directory, {@code off} turns the cache off; by default
 * {@code $XDG_CACHE_HOME/strata/tokenizer}, else {@code ~/.cache/strata/tokenizer}.
 */
final class BpeCache {
    private static final System.Logger LOG = System.getLogger(BpeCache.class.getName());
    private static final long MAGIC = 0x3145504241525453L; // "STRABPE1", little-endian
    private static final int VERSION = 1;
    private static final int HEADER = 64;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path dir;

    BpeCache(Path dir) {
        this.dir = dir;
    }

    /** The cache {@code -Dstrata.tokenizerCache} names (a directory, or off); null when off or no home is known. */
    static BpeCache fromProperties() {
        String spec = System.getProperty("strata.tokenizerCache");
        if (spec != null) {
            String v = spec.trim();
            if (v.isEmpty() || v.equalsIgnoreCase("off") || v.equalsIgnoreCase("false") || v.equalsIgnoreCase("none")) return null;
            return new BpeCache(Path.of(v));
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) return new BpeCache(Path.of(xdg, "strata", "tokenizer"));
        String home = System.getProperty("user.home");
        if (home == null || home.isBlank() || home.equals("?")) return null;
        return new BpeCache(Path.of(home, ".cache", "strata", "tokenizer"));
    }

    Path dir() {
        return dir;
    }

    /** What a model's tables are built from. */
    record Key(long tokensSum, long tokensBytes, int tokens, long mergesSum, long mergesBytes, int merges, boolean ignoreMerges) {
        static Key of(GgufStrings tokens, GgufStrings merges, boolean ignoreMerges) {
            return new Key(sum(tokens.raw()), tokens.raw().remaining(), tokens.size(), sum(merges.raw()),
                    merges.raw().remaining(), merges.size(), ignoreMerges);
        }

        /** CRC32C and CRC32 of the bytes, one in each half (both run as intrinsics, even in the interpreter). */
        private static long sum(ByteBuffer b) {
            CRC32C c = new CRC32C();
            c.update(b.duplicate());
            CRC32 d = new CRC32();
            d.update(b.duplicate());
            return c.getValue() << 32 | d.getValue();
        }

        String fileName() {
            return String.format("bpe-%016x-%016x-%s.bin", tokensSum, mergesSum, ignoreMerges ? "i" : "m");
        }
    }

    /** The stored tables for {@code key}, or null when there are none usable (missing: silently; bad: with a warning). */
    BpeModel load(Key key) {
        Path f = dir.resolve(key.fileName());
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            long size = ch.size();
            if (size < HEADER) return warn(f, "truncated: " + size + " bytes");
            MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            if (m.get(LONG, 0) != MAGIC || m.get(INT, 8) != VERSION) return warn(f, "not a version " + VERSION + " table file");
            if (m.get(LONG, 16) != key.tokensSum() || m.get(LONG, 24) != key.tokensBytes() || m.get(INT, 12) != key.tokens()
                    || m.get(LONG, 32) != key.mergesSum() || m.get(LONG, 40) != key.mergesBytes() || m.get(INT, 48) != key.merges()) {
                return warn(f, "built from another vocabulary");
            }
            long payload = m.get(LONG, 56);
            if (payload != size - HEADER) return warn(f, "truncated or too long: " + size + " bytes, expected " + (HEADER + payload));
            MemorySegment tables = m.asSlice(HEADER);
            CRC32C crc = new CRC32C();
            crc.update(tables.asByteBuffer());
            if ((int) crc.getValue() != m.get(INT, 52)) return warn(f, "corrupt: its checksum does not match");
            In in = new In(tables);
            BpeModel model = new BpeModel(key.tokens(), key.ignoreMerges(), in);
            if (in.at != tables.byteSize()) return warn(f, "corrupt: " + (tables.byteSize() - in.at) + " bytes left over");
            return model;
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException | RuntimeException e) {
            return warn(f, "unreadable: " + e);
        }
    }

    /** Stores {@code model}'s tables for {@code key}; a failure is a warning (the tokenizer works without the cache). */
    void store(Key key, BpeModel model) {
        Path f = dir.resolve(key.fileName());
        Path tmp = null;
        try {
            Out out = new Out();
            model.write(out);
            ByteBuffer tables = out.buffer.flip();
            CRC32C crc = new CRC32C();
            crc.update(tables.duplicate());
            ByteBuffer header = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
            header.putLong(MAGIC).putInt(VERSION).putInt(key.tokens()).putLong(key.tokensSum()).putLong(key.tokensBytes())
                    .putLong(key.mergesSum()).putLong(key.mergesBytes()).putInt(key.merges()).putInt((int) crc.getValue())
                    .putLong(tables.remaining()).flip();
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, key.fileName(), ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer[] parts = {header, tables};
                while (parts[1].hasRemaining()) ch.write(parts);
            }
            try {
                Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "tokenizer cache " + dir + ": cannot store " + f.getFileName() + " (" + e
                    + "); the tables are built again at every start");
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }

    private static BpeModel warn(Path f, String what) {
        LOG.log(System.Logger.Level.WARNING, "tokenizer cache " + f + ": " + what + "; building the tables again");
        return null;
    }

    /** Arrays written one after another: each as its length (int) and its elements, little-endian. */
    static final class Out {
        private ByteBuffer buffer = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);

        private void room(long bytes) {
            if (buffer.remaining() >= bytes) return;
            long need = buffer.position() + bytes;
            if (need > Integer.MAX_VALUE - 8) throw new IllegalStateException("BPE tables larger than 2 GB");
            ByteBuffer b = ByteBuffer.allocate((int) Math.min(Integer.MAX_VALUE - 8, Math.max(need, 2L * buffer.capacity())))
                    .order(ByteOrder.LITTLE_ENDIAN);
            buffer.flip();
            b.put(buffer);
            buffer = b;
        }

        void count(int n) {
            room(4);
            buffer.putInt(n);
        }

        void bytes(byte[] a, int n) {
            room(4L + n);
            buffer.putInt(n).put(a, 0, n);
        }

        void ints(int[] a, int n) {
            room(4 + 4L * n);
            buffer.putInt(n);
            buffer.asIntBuffer().put(a, 0, n);
            buffer.position(buffer.position() + 4 * n);
        }

        void longs(long[] a) {
            room(4 + 8L * a.length);
            buffer.putInt(a.length);
            buffer.asLongBuffer().put(a);
            buffer.position(buffer.position() + 8 * a.length);
        }
    }

    /** Reads what {@link Out} wrote; a length that runs past the end throws. */
    static final class In {
        private final MemorySegment s;
        private long at;

        In(MemorySegment s) {
            this.s = s;
        }

        int count() {
            int n = s.get(INT, at);
            at += 4;
            return n;
        }

        private int length(int elementBytes) {
            int n = count();
            if (n < 0 || (long) n * elementBytes > s.byteSize() - at) throw new IllegalArgumentException("array length " + n + " runs past the end");
            return n;
        }

        byte[] bytes() {
            byte[] a = new byte[length(1)];
            MemorySegment.copy(s, ValueLayout.JAVA_BYTE, at, a, 0, a.length);
            at += a.length;
            return a;
        }

        int[] ints() {
            int[] a = new int[length(4)];
            MemorySegment.copy(s, INT, at, a, 0, a.length);
            at += 4L * a.length;
            return a;
        }

        long[] longs() {
            long[] a = new long[length(8)];
            MemorySegment.copy(s, LONG, at, a, 0, a.length);
            at += 8L * a.length;
            return a;
        }
    }
}
