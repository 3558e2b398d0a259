package io.strata.metal;

import io.strata.engine.backend.Backend;
import io.strata.engine.backend.Buf;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.backend.Rope;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;
import io.strata.metal.shim.Compare;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Metal backend's operations, through the engine's {@link Backend} interface, against the engine's CPU
 * backend (the reference) on the same inputs: RoPE (normal, NeoX, llama3 factors, partial rotation), grouped-query
 * attention over f32 and f16 caches (prefill chunks, decode steps, batches mixing sequences), norms, gathers,
 * biases, and weights wrapped zero-copy from a file mapping and split past {@code maxBufferLength}.
 */
abstract class BackendCases {

    /** A fresh device; {@code maxBufferLength} lets tests force weight windows. */
    protected abstract Device newDevice(long maxBufferLength);

    private MetalBackend metal() {
        return new MetalBackend(newDevice(1L << 30), true);
    }

    private static float[] run(Backend b, Buf buf, int n) {
        float[] out = new float[n];
        b.sync();
        b.download(buf, 0, out, 0, n);
        return out;
    }

    private static Tensor tensor(String name, GgmlType type, int cols, int rows, byte[] data) {
        return new Tensor(name, type, new long[] {cols, rows}, MemorySegment.ofArray(data));
    }

    private static Tensor f32(String name, float[] v) {
        MemorySegment s = MemorySegment.ofArray(new byte[4 * v.length]);
        MemorySegment.copy(v, 0, s, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 0, v.length);
        return new Tensor(name, GgmlType.F32, new long[] {v.length}, s);
    }

    @Test
    void ropeMatchesTheCpuBackend() {
        Random r = new Random(21);
        float[] llama3 = new float[32];
        for (int i = 0; i < llama3.length; i++) {
            llama3[i] = i < 10 ? 1f : i < 20 ? 1f + (i - 10) * 0.7f : 8f;
        }
        Rope[] ropes = {
            new Rope(64, false, 10000f, null),
            new Rope(64, true, 1000000f, null),
            new Rope(64, false, 500000f, llama3),
            new Rope(32, true, 10000f, null),   // partial rotation: 32 of 64 dimensions
        };
        int heads = 3;
        int headDim = 64;
        int n = 5;
        int[] positions = {0, 1, 17, 1000, 8191};
        try (MetalBackend m = metal(); CpuBackend cpu = new CpuBackend(1)) {
            for (Rope rope : ropes) {
                float[] x = TestData.floats(r, n * heads * headDim, 2f);
                Buf mb = m.allocate(x.length);
                Buf cb = cpu.allocate(x.length);
                m.upload(x, 0, x.length, mb);
                cpu.upload(x, 0, x.length, cb);
                m.rope(mb, n, heads, headDim, positions, rope);
                cpu.rope(cb, n, heads, headDim, positions, rope);
                // float theta at position 8191 is off by up to ~5e-4 rad from the CPU's double theta
                Compare.assertClose("rope " + rope, run(cpu, cb, x.length), run(m, mb, x.length), 1e-5, 2e-3);
            }
        }
    }

    /** Runs the same attention calls on both backends and compares every output. */
    private void attentionCase(KvType type, int heads, int kvHeads, int headDim, int[][] steps, int[] seqOfStepRow) {
        Random r = new Random(heads * 1000L + kvHeads * 100L + headDim + type.ordinal());
        int qDim = heads * headDim;
        int kvDim = kvHeads * headDim;
        int layer = 3;
        int sequences = 0;
        for (int s : seqOfStepRow) {
            sequences = Math.max(sequences, s + 1);
        }
        try (MetalBackend m = metal(); CpuBackend cpu = new CpuBackend(1)) {
            KvCache[] mc = new KvCache[sequences];
            KvCache[] cc = new KvCache[sequences];
            for (int s = 0; s < sequences; s++) {
                mc[s] = m.newKvCache(2, 5, 600, kvDim, type);
                cc[s] = cpu.newKvCache(2, 5, 600, kvDim, type);
            }
            int[] next = new int[sequences];
            int row = 0;
            for (int[] step : steps) {
                int n = step.length;
                int[] pos = new int[n];
                KvCache[] mcs = new KvCache[n];
                KvCache[] ccs = new KvCache[n];
                for (int i = 0; i < n; i++) {
                    int s = step[i];
                    pos[i] = next[s]++;
                    mcs[i] = mc[s];
                    ccs[i] = cc[s];
                }
                float[] q = TestData.floats(r, n * qDim, 2f);
                float[] k = TestData.floats(r, n * kvDim, 2f);
                float[] v = TestData.floats(r, n * kvDim, 2f);
                float[] want = attention(cpu, q, k, v, n, layer, ccs, pos, heads, kvHeads, headDim);
                float[] got = attention(m, q, k, v, n, layer, mcs, pos, heads, kvHeads, headDim);
                Compare.assertClose("attention " + type + " heads " + heads + "/" + kvHeads + " dim " + headDim + " step of " + n
                        + " rows at positions " + java.util.Arrays.toString(pos), want, got, 2e-4, 2e-5);
                row += n;
            }
            assertTrue(row > 0);
            for (int s = 0; s < sequences; s++) {
                mc[s].close();
                cc[s].close();
            }
        }
    }

    private static float[] attention(Backend b, float[] q, float[] k, float[] v, int n, int layer, KvCache[] caches, int[] pos,
                                     int heads, int kvHeads, int headDim) {
        Buf qb = b.allocate(q.length);
        Buf kb = b.allocate(k.length);
        Buf vb = b.allocate(v.length);
        Buf ob = b.allocate(q.length);
        b.upload(q, 0, q.length, qb);
        b.upload(k, 0, k.length, kb);
        b.upload(v, 0, v.length, vb);
        b.attention(qb, kb, vb, n, layer, caches, pos, heads, kvHeads, headDim, ob);
        return run(b, ob, q.length);
    }

    private static final int[][] PREFILL_THEN_DECODE = {
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},  // 38 rows
        {0}, {0}, {0, 0, 0}, {0},
    };

    @Test
    void attentionPrefillThenDecodeF32() {
        attentionCase(KvType.F32, 4, 2, 16, PREFILL_THEN_DECODE, new int[] {0});
        attentionCase(KvType.F32, 8, 2, 64, PREFILL_THEN_DECODE, new int[] {0});
        attentionCase(KvType.F32, 6, 2, 128, PREFILL_THEN_DECODE, new int[] {0});   // groups of 3 heads
        attentionCase(KvType.F32, 2, 2, 256, PREFILL_THEN_DECODE, new int[] {0});
    }

    @Test
    void attentionPrefillThenDecodeF16() {
        attentionCase(KvType.F16, 4, 2, 16, PREFILL_THEN_DECODE, new int[] {0});
        attentionCase(KvType.F16, 8, 1, 80, PREFILL_THEN_DECODE, new int[] {0});    // head size between classes
        attentionCase(KvType.F16, 16, 4, 128, PREFILL_THEN_DECODE, new int[] {0});
    }

    @Test
    void attentionBatchesMixingSequences() {
        int[][] steps = {
            {0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},  // three prefills in one step
            {0, 1, 2},                                      // batched decode
            {2, 0, 0, 1},                                   // decode + a small chunk + decode
            {1, 0, 1},                                      // a sequence split across the batch
        };
        attentionCase(KvType.F32, 8, 2, 64, steps, new int[] {0, 1, 2});
        attentionCase(KvType.F16, 4, 4, 32, steps, new int[] {0, 1, 2});
    }

    @Test
    void longContextDecodeUsesEightSimdgroups() {
        int[][] steps = new int[2][];
        steps[0] = new int[560];
        steps[1] = new int[] {0};
        attentionCase(KvType.F16, 4, 1, 64, steps, new int[] {0});
    }

    @Test
    void normsGathersBiasesAndCopiesMatchTheCpuBackend() {
        Random r = new Random(31);
        int dim = 96;
        int vocab = 50;
        int n = 4;
        for (GgmlType t : new GgmlType[] {GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K}) {
            int cols = t.blockSize == 256 ? 256 : dim;
            byte[] table = TestData.quantized(t, r, vocab, cols);
            Tensor emb = tensor("token_embd.weight", t, cols, vocab, table);
            Tensor norm = f32("attn_norm.weight", TestData.floats(r, cols, 1f));
            Tensor bias = f32("attn_q.bias", TestData.floats(r, cols, 1f));
            int[] tokens = {7, 0, 49, 7};
            try (MetalBackend m = metal(); CpuBackend cpu = new CpuBackend(1)) {
                float[][] outs = new float[2][];
                Backend[] both = {cpu, m};
                for (int b = 0; b < 2; b++) {
                    Backend be = both[b];
                    Buf x = be.allocate((long) n * cols);
                    Buf y = be.allocate((long) n * cols);
                    be.embed(emb, tokens, n, x);
                    be.rmsNorm(x, norm, n, cols, 1e-5f, y);
                    be.addBias(y, bias, n);
                    be.add(y, x, (long) n * cols);
                    be.siluMul(y, x, (long) n * cols);
                    be.copyRows(y, new int[] {3, 1}, cols, x);
                    outs[b] = run(be, x, 2 * cols);
                }
                Compare.assertClose("embed/norm/bias/add/silu/copyRows with " + t + " embeddings", outs[0], outs[1], 1e-4, 1e-5);
            }
        }
    }

    @Test
    void matmulPicksMatVecOrMatMatAndAgreesWithTheReference() {
        Random r = new Random(41);
        int cols = 256;
        int rows = 100;
        GgmlType type = GgmlType.Q4_K;
        byte[] w = TestData.quantized(type, r, rows, cols);
        float[] wf = TestData.dequantize(type, MemorySegment.ofArray(w), rows, cols);
        Tensor t = tensor("blk.0.ffn_up.weight", type, cols, rows, w);
        for (int n : new int[] {1, 7, 8, 40}) {
            float[] x = TestData.floats(r, n * cols, 1f);
            double[][] want = TestData.matmul(type, wf, rows, cols, x, n);
            try (MetalBackend m = metal()) {
                Buf xb = m.allocate((long) n * cols);
                Buf ob = m.allocate((long) n * rows);
                m.upload(x, 0, x.length, xb);
                m.matmul(t, xb, n, ob);
                TestData.assertWithin("matmul Q4_K " + rows + "x" + cols + " n " + n, want[0], want[1], run(m, ob, n * rows), 3e-5);
            }
        }
    }

    /**
     * Every matrix of the fixture models (each weight type llama.cpp wrote), viewed in its file mapping, through the
     * mat-vec (1 row) and mat-mat (9 rows) products and the row gather, against the engine's scalar dequantizer.
     */
    @Test
    void everyFixtureMatrixThroughProductsAndGathers() {
        String[] files = {"tiny/tiny-F16.gguf", "tiny/tiny-BF16.gguf", "tiny/tiny-Q4_1.gguf", "tiny/tiny-Q5_1.gguf",
            "kq/kq-Q8_0.gguf", "kq/kq-Q4_0.gguf", "kq/kq-Q2_K.gguf", "kq/kq-Q3_K_M.gguf", "kq/kq-Q4_K_M.gguf",
            "kq/kq-Q5_K_M.gguf", "kq/kq-Q6_K.gguf"};
        java.util.Set<GgmlType> seen = java.util.EnumSet.noneOf(GgmlType.class);
        Random r = new Random(61);
        for (String f : files) {
            Path p = io.strata.engine.testing.Fixtures.path(f);
            try (io.strata.engine.gguf.GgufFile file = io.strata.engine.gguf.GgufFile.open(p); MetalBackend m = metal()) {
                for (String name : new java.util.TreeSet<>(file.tensorInfos().keySet())) {
                    Tensor t = file.tensor(name);
                    if (t.shape().length != 2) {
                        continue;
                    }
                    seen.add(t.type());
                    int cols = t.cols();
                    int rows = t.rows();
                    float[] wf = TestData.dequantize(t.type(), t.data(), rows, cols);
                    for (int n : new int[] {1, 9}) {
                        float[] x = TestData.floats(r, n * cols, 1f);
                        double[][] want = TestData.matmul(t.type(), wf, rows, cols, x, n);
                        Buf xb = m.allocate((long) n * cols);
                        Buf ob = m.allocate((long) n * rows);
                        m.upload(x, 0, x.length, xb);
                        m.matmul(t, xb, n, ob);
                        TestData.assertWithin(f + " " + t + " x " + n + " rows", want[0], want[1], run(m, ob, n * rows), 3e-5);
                    }
                    int[] ids = {0, rows - 1, rows / 2};
                    float[] wantRows = new float[ids.length * cols];
                    for (int i = 0; i < ids.length; i++) {
                        System.arraycopy(wf, ids[i] * cols, wantRows, i * cols, cols);
                    }
                    Buf eb = m.allocate((long) ids.length * cols);
                    m.embed(t, ids, ids.length, eb);
                    Compare.assertClose(f + " " + t + " rows " + java.util.Arrays.toString(ids), wantRows, run(m, eb, wantRows.length), 0, 0);
                }
                assertEquals(0, m.copiedWeightBytes(), f + ": mapped tensors are wrapped, not copied");
            }
        }
        assertTrue(seen.containsAll(java.util.EnumSet.of(GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_1,
                GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K)), "types seen: " + seen);
    }

    /** Weights in a file mapping are wrapped without copying, in windows when longer than maxBufferLength. */
    @Test
    void mappedWeightsAreWrappedAndSplitPastMaxBufferLength(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        Random r = new Random(51);
        int cols = 512;
        int rows = 300;
        GgmlType type = GgmlType.Q8_0;
        byte[] w = TestData.quantized(type, r, rows, cols);
        byte[] table = TestData.quantized(type, r, rows, cols);
        Path file = dir.resolve("weights.bin");
        // an odd header so the tensors do not start on a page boundary
        byte[] all = new byte[4096 + 96 + w.length + table.length];
        System.arraycopy(w, 0, all, 4096 + 96, w.length);
        System.arraycopy(table, 0, all, 4096 + 96 + w.length, table.length);
        Files.write(file, all);
        float[] wf = TestData.dequantize(type, MemorySegment.ofArray(w), rows, cols);
        float[] tf = TestData.dequantize(type, MemorySegment.ofArray(table), rows, cols);
        try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, all.length, arena);
            Tensor wt = new Tensor("w", type, new long[] {cols, rows}, map.asSlice(4096 + 96, w.length));
            Tensor tt = new Tensor("emb", type, new long[] {cols, rows}, map.asSlice(4096 + 96 + w.length, table.length));
            int n = 9;
            float[] x = TestData.floats(r, n * cols, 1f);
            double[][] want = TestData.matmul(type, wf, rows, cols, x, n);
            int[] tokens = {0, 299, 150, 17};
            float[] wantRows = new float[tokens.length * cols];
            for (int i = 0; i < tokens.length; i++) {
                System.arraycopy(tf, tokens[i] * cols, wantRows, i * cols, cols);
            }
            long page;
            try (Device d = newDevice(1L << 30)) {
                page = d.pageSize();
            }
            for (long maxLen : new long[] {1L << 30, 10 * page, 6 * page}) {
                try (MetalBackend m = new MetalBackend(newDevice(maxLen), true)) {
                    Buf xb = m.allocate((long) n * cols);
                    Buf ob = m.allocate((long) n * rows);
                    Buf eb = m.allocate((long) tokens.length * cols);
                    m.upload(x, 0, x.length, xb);
                    m.matmul(wt, xb, n, ob);
                    m.embed(tt, tokens, tokens.length, eb);
                    float[] got = run(m, ob, n * rows);
                    TestData.assertWithin("matmul over windows of " + maxLen + " bytes", want[0], want[1], got, 3e-5);
                    Compare.assertClose("embedding over windows of " + maxLen + " bytes", wantRows, run(m, eb, wantRows.length), 0, 0);
                    assertEquals(0, m.copiedWeightBytes(), "mapped weights are never copied");
                    assertTrue(m.wrappedWeightBytes() >= w.length + table.length, "wrapped " + m.wrappedWeightBytes());
                    if (maxLen < w.length) {
                        // overlapping windows: more bytes wrapped than the tensors hold
                        assertTrue(m.wrappedWeightBytes() > w.length + table.length + 2 * page, "split: " + m.wrappedWeightBytes());
                    }
                }
            }
        }
    }

    @Test
    void uploadWhileOperationsArePendingKeepsTheirOrder() {
        try (MetalBackend m = metal()) {
            int n = 300;
            float[] a = new float[n];
            float[] b = new float[n];
            java.util.Arrays.fill(a, 1f);
            java.util.Arrays.fill(b, 10f);
            Buf x = m.allocate(n);
            Buf y = m.allocate(n);
            m.upload(a, 0, n, x);
            m.upload(a, 0, n, y);
            m.add(x, y, n);          // x = 2 (pending)
            m.upload(b, 0, n, y);    // must not change the pending add's operand
            m.add(x, y, n);          // x = 12
            float[] got = run(m, x, n);
            for (float v : got) {
                assertEquals(12f, v);
            }
        }
    }

    @Test
    void badInputIsRejectedWithTheReason() {
        try (MetalBackend m = metal()) {
            Tensor emb = tensor("token_embd.weight", GgmlType.F32, 4, 3, new byte[4 * 4 * 3]);
            Buf out = m.allocate(8);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.embed(emb, new int[] {1, 3}, 2, out));
            assertTrue(e.getMessage().contains("token id 3 at row 1") && e.getMessage().contains("token_embd.weight"), e.getMessage());
            Buf small = m.allocate(4);
            e = assertThrows(IllegalArgumentException.class, () -> m.matmul(emb, small, 2, out));
            assertTrue(e.getMessage().contains("holds 4 floats"), e.getMessage());
            KvCache c = m.newKvCache(0, 2, 8, 4, KvType.F32);
            Buf q = m.allocate(8);
            e = assertThrows(IllegalArgumentException.class,
                    () -> m.attention(q, q, q, 1, 0, new KvCache[] {c}, new int[] {8}, 2, 1, 4, q));
            assertTrue(e.getMessage().contains("position 8 is outside the cache's context of 8"), e.getMessage());
        }
    }
}
