package io.strata.engine.cpu;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * File-backed memory for weights the CPU backend rewrites at load (the interleaved layout of {@link Repacked}).
 *
 * <p>Why not the heap or anonymous memory: a worker's weights should stay mapped from a file, so that its resident
 * memory is the page cache the kernel can reclaim and write back, not process memory that adds to the model's map.
 * Each copy is a file created in {@code dir}, mapped shared and read-write, and unlinked at once: the mapping keeps
 * it alive, nothing is left on disk when the process ends or dies.
 */
final class MappedScratch implements SegmentAllocator, AutoCloseable {
    private record Copy(Arena arena, Path file, long size) {
    }

    private final Path dir;
    private final java.util.Map<Long, Copy> copies = new java.util.HashMap<>();  // by address; guarded by this
    private long mapped;
    private boolean closed;

    MappedScratch(Path dir) {
        this.dir = dir;
    }

    /** A file of its own for each allocation, so that {@link #release} can unmap it alone. */
    @Override
    public MemorySegment allocate(long bytes, long alignment) {
        if (alignment > 4096) throw new IllegalArgumentException("alignment " + alignment + " exceeds a page");
        long size = Math.max(4096, (bytes + 4095) / 4096 * 4096);
        Arena arena = Arena.ofShared();
        try {
            Files.createDirectories(dir);
            Path f = Files.createTempFile(dir, "strata-repack-", ".bin");
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MemorySegment seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
                HugePages.adviseFile(seg);
                synchronized (this) {
                    if (closed) throw new IllegalStateException("scratch memory in " + dir + " is closed");
                    copies.put(seg.address(), new Copy(arena, f, size));
                    mapped += size;
                }
                return seg.asSlice(0, bytes);
            } finally {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException("cannot map " + size + " bytes for repacked weights in " + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Unmaps the allocation that starts at {@code seg} (no longer used by anyone); false when it is not one of ours. */
    boolean release(MemorySegment seg) {
        Copy c;
        synchronized (this) {
            c = copies.remove(seg.address());
            if (c == null) return false;
            mapped -= c.size();
        }
        c.arena().close();
        return true;
    }

    /** The (unlinked) files mapped now; Linux lists their maps as {@code NAME (deleted)}. */
    synchronized java.util.List<Path> files() {
        java.util.List<Path> out = new java.util.ArrayList<>();
        for (Copy c : copies.values()) out.add(c.file());
        return out;
    }

    /** Bytes mapped now. */
    synchronized long mappedBytes() {
        return mapped;
    }

    @Override
    public void close() {
        java.util.List<Copy> all;
        synchronized (this) {
            closed = true;
            all = new java.util.ArrayList<>(copies.values());
            copies.clear();
            mapped = 0;
        }
        for (Copy c : all) c.arena().close();
    }
}
