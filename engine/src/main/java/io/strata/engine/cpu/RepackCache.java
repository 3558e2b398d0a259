package io.strata.engine.cpu;

import io.strata.engine.backend.WeightOrigin;
import io.strata.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;

/**
 * Interleaved copies of weights ({@link Repacked}) stored on disk, so that a second start maps them instead of
 * rewriting the weights again.
 *
 * <p>An interleaved copy is a pure function of the tensor's bytes, type and shape, the layout version
 * ({@link Repacked#LAYOUT_VERSION}) and the group size {@link Repacked#R} (which depends on the machine's vectors).
 * The bytes are identified without reading them by the caller's {@code origin} (the file's real path, size,
 * modification time and the tensor's offset; see {@code Stage}). One file per tensor, named
 * {@code TENSOR.HASH.repack}, where HASH is a SHA-256 of the whole key: the copy from offset 0, padded to a whole
 * page, then a header page. The copy comes first so that it starts on a 2 MiB boundary of the file: Linux maps a file's
 * 2 MiB folios whole only where file offset and address agree on such a boundary, and a map of the copy starts on one.
 *
 * <p>Header (little-endian, {@value #HEADER} bytes): magic {@code STRATARP}, format version, layout version, R,
 * type id, rows, cols, data bytes, CRC32C of the data, SHA-256 of the key, then the key itself (UTF-8, for people).
 * A file is written under a temporary name ({@code NAME.tmp-PID-RANDOM}) and renamed into place when complete, so
 * readers and concurrent writers see either no file or a whole one. On open the header, the file size and the data's
 * CRC32C are checked; a missing file is rebuilt silently, a stale, truncated or corrupt one is rebuilt with a logged
 * warning naming it. The CRC pass reads the copy once, which also maps its pages before the first step needs them.
 *
 * <p>The first write of a process prunes the directory: copies whose source file is gone or changed or whose layout
 * is not this one, and temporary files of dead processes, are deleted.
 *
 * <p>Copies are mapped read-only (shared), each in an arena of its own ({@link #release} unmaps one, {@link #close}
 * all): the weights stay in the page cache, not in
 * process memory. Maps are advised huge pages ({@link HugePages#adviseFile}) when written and when opened, so the page
 * cache holds the copy in 2 MiB folios and the kernels stream it without a TLB miss and a prefetcher restart every
 * 4 KiB (decode 5-15% faster; BENCHMARKS.md).
 */
public final class RepackCache implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(RepackCache.class.getName());

    static final long MAGIC = 0x5052415441525453L; // "STRATARP" little-endian
    /** 2: the copy first, the header page last (1: header first). */
    static final int FORMAT = 2;
    static final int HEADER = 4096;
    private static final int KEY_MAX = HEADER - 96;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long FREE_MARGIN = 256L << 20;

    private final Path dir;
    private record Mapped(Arena arena, Path file) {
    }

    /** The copies mapped now, by the address of their data. */
    private final java.util.Map<Long, Mapped> maps = new java.util.HashMap<>();  // guarded by itself
    private boolean closed;  // guarded by maps
    private final AtomicBoolean pruned = new AtomicBoolean();

    public RepackCache(Path dir) {
        this.dir = dir;
    }

    /**
     * The cache that {@code -Dstrata.cpu.repackCache} names: a directory, or {@code off} (also {@code false},
     * {@code none} or empty) for none; unset, {@code $XDG_CACHE_HOME/strata/repack} or {@code ~/.cache/strata/repack}.
     * Null when disabled.
     */
    public static RepackCache fromProperties() {
        return of(System.getProperty("strata.cpu.repackCache"));
    }

    /**
     * The cache {@code spec} names: a directory; {@code off}, {@code false}, {@code none} or empty for none (null);
     * null for the default directory ({@link #defaultDir()}).
     */
    public static RepackCache of(String spec) {
        if (spec != null) {
            String v = spec.trim();
            if (v.isEmpty() || v.equalsIgnoreCase("off") || v.equalsIgnoreCase("false") || v.equalsIgnoreCase("none")) return null;
            return new RepackCache(Path.of(v));
        }
        Path d = defaultDir();
        return d == null ? null : new RepackCache(d);
    }

    /** {@code $XDG_CACHE_HOME/strata/repack}, else {@code ~/.cache/strata/repack}; null when neither is known. */
    public static Path defaultDir() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) return Path.of(xdg, "strata", "repack");
        String home = System.getProperty("user.home");
        if (home == null || home.isBlank() || home.equals("?")) return null;
        return Path.of(home, ".cache", "strata", "repack");
    }

    public Path dir() {
        return dir;
    }

    /**
     * The files whose copies are mapped now (a copy written here was mapped before its rename; Linux shows a map under
     * its file's current name).
     */
    java.util.Set<Path> mappedFiles() {
        synchronized (maps) {
            java.util.Set<Path> out = new java.util.HashSet<>();
            for (Mapped m : maps.values()) out.add(m.file());
            return out;
        }
    }

    private Repacked keep(Repacked p, Arena arena, Path f) {
        synchronized (maps) {
            if (closed) {
                arena.close();
                throw new IllegalStateException("repack cache " + dir + " is closed");
            }
            maps.put(p.data().address(), new Mapped(arena, f));
        }
        return p;
    }

    /** Unmaps {@code p}, a copy this cache returned, which nothing uses any more; false when it is not one of ours. */
    boolean release(Repacked p) {
        Mapped m;
        synchronized (maps) {
            m = maps.remove(p.data().address());
        }
        if (m == null) return false;
        m.arena().close();
        return true;
    }

    /** The file that holds (or would hold) the copy of {@code w} from {@code origin}. */
    Path file(Tensor w, WeightOrigin origin) {
        return dir.resolve(safe(w.name()) + "." + HexFormat.of().formatHex(keyHash(w, origin), 0, 10) + ".repack");
    }

    /**
     * The stored copy of {@code w}, mapped read-only and checked, or null when there is none usable (missing: silently;
     * stale, truncated or corrupt: with a warning naming the file). Never throws for a bad file.
     */
    Repacked open(Tensor w, WeightOrigin origin) {
        Path f = file(w, origin);
        long bytes = Repacked.bytes(w);
        long at = headerAt(bytes);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size != at + HEADER) {
                warn(f, (size < at + HEADER ? "truncated" : "too long") + ": " + size + " bytes, expected " + (at + HEADER));
                return null;
            }
            ByteBuffer hb = ByteBuffer.allocate(HEADER);
            while (hb.hasRemaining() && ch.read(hb, at + hb.position()) > 0) {
                // read the whole header page
            }
            MemorySegment header = MemorySegment.ofArray(hb.array());
            String bad = hb.hasRemaining() ? "truncated header" : checkHeader(header, w, origin, bytes);
            if (bad != null) {
                warn(f, bad);
                return null;
            }
            Arena arena = Arena.ofShared();
            MemorySegment data = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes, arena);
            HugePages.adviseFile(data);
            long crc = crc32c(data);
            if (crc != header.get(LONG, 48)) {
                arena.close();
                warn(f, "corrupt: data CRC32C " + Long.toHexString(crc) + " differs from the header's " + Long.toHexString(header.get(LONG, 48)));
                return null;
            }
            return keep(Repacked.ofPacked(w, data), arena, f);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException | RuntimeException e) {
            warn(f, "unreadable: " + e);
            return null;
        }
    }

    /**
     * Interleaves {@code w} into a new stored copy and returns it, mapped read-only; null when {@link Repacked#of}
     * declines the tensor (non-finite scales), in which case nothing is stored. Throws {@link IOException} when the
     * file cannot be written (the caller interleaves into other memory instead); a partial file is never left under
     * the final name.
     */
    Repacked create(Tensor w, WeightOrigin origin) throws IOException {
        Path f = file(w, origin);
        long bytes = Repacked.bytes(w);
        Files.createDirectories(dir);
        if (pruned.compareAndSet(false, true)) prune();
        long free = Files.getFileStore(dir).getUsableSpace();
        if (free < headerAt(bytes) + HEADER + FREE_MARGIN) {
            throw new IOException(dir + ": " + free + " bytes free, a copy of " + w.name() + " needs " + (headerAt(bytes) + HEADER)
                    + " (and " + FREE_MARGIN + " to spare)");
        }
        Path tmp = f.resolveSibling(f.getFileName() + ".tmp-" + ProcessHandle.current().pid() + "-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        boolean renamed = false;
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            Repacked written;
            long crc;
            try (Arena rw = Arena.ofShared()) {
                MemorySegment seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, headerAt(bytes) + HEADER, rw);
                HugePages.adviseFile(seg); // written in 2 MiB folios, which later maps take whole
                MemorySegment data = seg.asSlice(0, bytes);
                written = Repacked.of(w, (size, align) -> {
                    if (size != bytes || HEADER % align != 0) throw new IllegalStateException(w + ": unexpected allocation of " + size);
                    return data;
                });
                if (written == null) return null;
                crc = crc32c(data);
                writeHeader(seg.asSlice(headerAt(bytes), HEADER), w, origin, bytes, crc);
            }
            Arena arena = Arena.ofShared();
            try {
                MemorySegment ro = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes, arena);
                HugePages.adviseFile(ro);
                Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                renamed = true;
                return keep(Repacked.ofPacked(w, ro), arena, f);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        } finally {
            if (!renamed) Files.deleteIfExists(tmp);
        }
    }

    private static void writeHeader(MemorySegment seg, Tensor w, WeightOrigin origin, long bytes, long crc) {
        seg.set(LONG, 0, MAGIC);
        seg.set(INT, 8, FORMAT);
        seg.set(INT, 12, Repacked.LAYOUT_VERSION);
        seg.set(INT, 16, Repacked.R);
        seg.set(INT, 20, w.type().id);
        seg.set(LONG, 24, w.rows());
        seg.set(LONG, 32, w.cols());
        seg.set(LONG, 40, bytes);
        seg.set(LONG, 48, crc);
        MemorySegment.copy(keyHash(w, origin), 0, seg, ValueLayout.JAVA_BYTE, 56, 32);
        byte[] key = key(w, origin).getBytes(StandardCharsets.UTF_8);
        int n = Math.min(key.length, KEY_MAX);
        seg.set(INT, 88, n);
        MemorySegment.copy(key, 0, seg, ValueLayout.JAVA_BYTE, 92, n);
    }

    /** Null when the header describes this copy, else what differs. */
    private static String checkHeader(MemorySegment seg, Tensor w, WeightOrigin origin, long bytes) {
        if (seg.get(LONG, 0) != MAGIC) return "not a repack cache file (bad magic)";
        if (seg.get(INT, 8) != FORMAT) return "stale: cache format " + seg.get(INT, 8) + ", expected " + FORMAT;
        if (seg.get(INT, 12) != Repacked.LAYOUT_VERSION) {
            return "stale: layout version " + seg.get(INT, 12) + ", expected " + Repacked.LAYOUT_VERSION;
        }
        if (seg.get(INT, 16) != Repacked.R) return "stale: " + seg.get(INT, 16) + " rows per group, this machine uses " + Repacked.R;
        if (seg.get(INT, 20) != w.type().id || seg.get(LONG, 24) != w.rows() || seg.get(LONG, 32) != w.cols()) {
            return "stale: type id " + seg.get(INT, 20) + " shape " + seg.get(LONG, 32) + "x" + seg.get(LONG, 24) + ", expected " + w;
        }
        if (seg.get(LONG, 40) != bytes) return "stale: " + seg.get(LONG, 40) + " data bytes, expected " + bytes;
        byte[] h = new byte[32];
        MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, 56, h, 0, 32);
        if (!Arrays.equals(h, keyHash(w, origin))) return "stale: made from other source bytes (key hash differs)";
        return null;
    }

    /** Everything the copy's bytes depend on: the source file and its version on the first two lines. */
    static String key(Tensor w, WeightOrigin origin) {
        return origin.file() + "\n" + origin.version() + "\noffset " + origin.offset() + " " + w.name() + " " + w.type() + " "
                + Arrays.toString(w.shape()) + "\nstrata-repack format " + FORMAT + " layout " + Repacked.LAYOUT_VERSION + " R " + Repacked.R;
    }

    /**
     * Deletes what can no longer be used: copies whose source file is gone or changed, copies of another format or
     * layout version, and temporary files of processes that no longer run. Files it cannot read are left alone.
     */
    void prune() {
        if (!Files.isDirectory(dir)) return;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                try {
                    int tmp = n.indexOf(".repack.tmp-");
                    if (tmp >= 0) {
                        String rest = n.substring(tmp + ".repack.tmp-".length());
                        int dash = rest.indexOf('-');
                        long pid = Long.parseLong(dash < 0 ? rest : rest.substring(0, dash));
                        if (ProcessHandle.of(pid).isEmpty()) Files.deleteIfExists(p);
                    } else if (n.endsWith(".repack") && unusable(p)) {
                        Files.deleteIfExists(p);
                    }
                } catch (NumberFormatException | IOException e) {
                    // not ours, or gone already
                }
            }
        } catch (IOException e) {
            // listing failed: nothing to clean
        }
    }

    private static boolean unusable(Path p) throws IOException {
        byte[] h = new byte[HEADER];
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            ByteBuffer first = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(first, 0);
            // Format 1 put the header first: such a file is stale.
            if (first.position() == 16 && first.getLong(0) == MAGIC && first.getInt(8) == 1) return true;
            long size = ch.size();
            if (size < HEADER || size % 4096 != 0) return false; // not a cache file of this format: leave it
            ByteBuffer hb = ByteBuffer.wrap(h);
            while (hb.hasRemaining() && ch.read(hb, size - HEADER + hb.position()) > 0) {
                // read the whole header page
            }
        }
        MemorySegment s = MemorySegment.ofArray(h);
        if (s.get(LONG, 0) != MAGIC) return false; // not a cache file: leave it
        if (s.get(INT, 8) != FORMAT || s.get(INT, 12) != Repacked.LAYOUT_VERSION) return true;
        int len = s.get(INT, 88);
        if (len < 0 || len > KEY_MAX) return true;
        String[] lines = new String(h, 92, len, StandardCharsets.UTF_8).split("\n", 3);
        if (lines.length < 3) return true;
        Path src = Path.of(lines[0]);
        try {
            return !WeightOrigin.versionOf(src).equals(lines[1]);
        } catch (IOException e) {
            return !Files.exists(src);
        }
    }

    /** Where the header page of a copy of {@code bytes} bytes starts: the copy padded to a whole page. */
    static long headerAt(long bytes) {
        return (bytes + HEADER - 1) / HEADER * HEADER;
    }

    private static byte[] keyHash(Tensor w, WeightOrigin origin) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(key(w, origin).getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** CRC32C of {@code s}, read in pieces a ByteBuffer can address. */
    static long crc32c(MemorySegment s) {
        CRC32C c = new CRC32C();
        long piece = 1L << 30;
        for (long at = 0; at < s.byteSize(); at += piece) c.update(s.asSlice(at, Math.min(piece, s.byteSize() - at)).asByteBuffer());
        return c.getValue();
    }

    private static String safe(String name) {
        StringBuilder b = new StringBuilder(name.length());
        for (int i = 0; i < name.length() && b.length() < 96; i++) {
            char c = name.charAt(i);
            b.append(c < 128 && (Character.isLetterOrDigit(c) || c == '.' || c == '_' || c == '-') ? c : '_');
        }
        return b.toString();
    }

    private static void warn(Path f, String what) {
        LOG.log(System.Logger.Level.WARNING, "repack cache " + f + ": " + what + "; interleaving the weight again");
    }

    /** Unmaps every copy this cache opened or wrote (their weights must no longer be used). */
    @Override
    public void close() {
        java.util.List<Mapped> all;
        synchronized (maps) {
            closed = true;
            all = new java.util.ArrayList<>(maps.values());
            maps.clear();
        }
        for (Mapped m : all) m.arena().close();
    }
}
