package io.strata.engine.model;

import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.TensorInfo;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A stage reads only its own layers: on a fresh copy of a model evicted from the page cache, and with read-ahead
 * turned off for the map (so every resident page was really read), running a step of layers [2, 4) of a 4-layer
 * model leaves no page of layers 0-1 or of the token embedding resident.
 */
class StageResidencyTest {
    private static final long PAGE = 4096;
    private static final int POSIX_FADV_DONTNEED = 4;
    private static final int MADV_RANDOM = 1;

    @Test
    void aStageTouchesOnlyItsOwnTensors(@TempDir Path dir) throws Throwable {
        Path copy = dir.resolve("model.gguf");
        Files.copy(Fixtures.path("small/small-Q4_0.gguf"), copy);
        try (FileChannel ch = FileChannel.open(copy, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        evictFromPageCache(copy);
        try (GgufFile file = GgufFile.open(copy)) {
            MemorySegment anyView = file.tensor("output_norm.weight").data();
            madvise(MemorySegment.ofAddress(anyView.address() - file.tensorInfos().get("output_norm.weight").fileOffset())
                    .reinterpret(Files.size(copy)), MADV_RANDOM);
            ModelConfig cfg = ModelConfig.from(file);
            assertEquals(4, cfg.layers());
            try (CpuBackend backend = new CpuBackend(1)) {
                Stage stage = Stage.load(file, cfg, 2, 4, backend, 4);
                assertEquals(stage.weightBytes(), stage.pageIn());
                float[] hidden = new float[2 * cfg.dim()];
                for (int i = 0; i < hidden.length; i++) hidden[i] = (float) Math.sin(i);
                float[] logits = new float[cfg.vocab()];
                try (KvCache cache = stage.newCache(8, KvType.F32)) {
                    stage.forward(new Step(2, null, hidden, new int[]{0, 1}, new KvCache[]{cache, cache}, new int[]{1}), logits);
                }
            }
            List<String> touched = new ArrayList<>();
            long foreignBytes = 0;
            for (TensorInfo t : file.tensorInfos().values()) {
                boolean mine = t.name().startsWith("blk.2.") || t.name().startsWith("blk.3.") || t.name().startsWith("output");
                // pages wholly inside this tensor (boundary pages may be shared with a neighbour)
                MemorySegment data = file.tensor(t.name()).data();
                long first = (data.address() + PAGE - 1) / PAGE * PAGE - data.address();
                long end = (data.address() + data.byteSize()) / PAGE * PAGE - data.address();
                long resident = 0;
                for (long p = first; p < end; p += PAGE) {
                    if (data.asSlice(p, PAGE).isLoaded()) resident += PAGE;
                }
                if (!mine) {
                    foreignBytes += end - first;
                    if (resident > 0) touched.add(t.name() + " (" + resident + " bytes)");
                } else if (end > first) {
                    assertTrue(resident == end - first, t.name() + " is the stage's own and was read, yet only " + resident
                            + " of " + (end - first) + " bytes are resident");
                }
            }
            assertTrue(foreignBytes > 1_000_000, "the check must cover the other layers (" + foreignBytes + " bytes)");
            assertTrue(touched.isEmpty(), "pages of other stages' tensors were read: " + touched);
        }
    }

    private static void evictFromPageCache(Path p) throws Throwable {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        MethodHandle open = linker.downcallHandle(libc.find("open").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        MethodHandle fadvise = linker.downcallHandle(libc.find("posix_fadvise").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
        MethodHandle close = linker.downcallHandle(libc.find("close").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        try (Arena a = Arena.ofConfined()) {
            int fd = (int) open.invokeExact(a.allocateFrom(p.toString()), 0);
            assertTrue(fd >= 0, "open " + p);
            int rc = (int) fadvise.invokeExact(fd, 0L, 0L, POSIX_FADV_DONTNEED);
            int rc2 = (int) close.invokeExact(fd);
            assertEquals(0, rc, "posix_fadvise");
            assertEquals(0, rc2, "close");
        }
    }

    private static void madvise(MemorySegment seg, int advice) throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle madvise = linker.downcallHandle(linker.defaultLookup().find("madvise").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
        long start = seg.address() / PAGE * PAGE;
        int rc = (int) madvise.invokeExact(MemorySegment.ofAddress(start), seg.byteSize() + (seg.address() - start), advice);
        assertEquals(0, rc, "madvise");
    }
}
