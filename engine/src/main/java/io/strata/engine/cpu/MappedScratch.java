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
 * Each chunk is a file created in {@code dir}, mapped shared and read-write, and unlinked at once: the mapping keeps
 * it alive, nothing is left on disk when the process ends or dies.
 */
final class MappedScratch implements SegmentAllocator, AutoCloseable {
    private static final long CHUNK = 256L << 20;

    private final Path dir;
    private final Arena arena = Arena.ofShared();
    private MemorySegment chunk;
    private long used;
    private long mapped;

    MappedScratch(Path dir) {
        this.dir = dir;
    }

    @Override
    public synchronized MemorySegment allocate(long bytes, long alignment) {
        long at = (used + alignment - 1) / alignment * alignment;
        if (chunk == null || at + bytes > chunk.byteSize()) {
            chunk = map(Math.max(CHUNK, (bytes + 4095) / 4096 * 4096));
            at = 0;
        }
        used = at + bytes;
        return chunk.asSlice(at, bytes);
    }

    private MemorySegment map(long size) {
        try {
            Files.createDirectories(dir);
            Path f = Files.createTempFile(dir, "strata-repack-", ".bin");
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MemorySegment seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
                HugePages.adviseFile(seg);
                mapped += size;
                return seg;
            } finally {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map " + size + " bytes for repacked weights in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Bytes mapped so far. */
    synchronized long mappedBytes() {
        return mapped;
    }

    @Override
    public void close() {
        arena.close();
    }
}
