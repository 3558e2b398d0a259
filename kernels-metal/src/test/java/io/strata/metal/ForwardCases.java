package io.strata.metal;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.engine.backend.Backend;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole forward passes of the fixture models (every shipped weight type) on the Metal backend, compared with the
 * engine's CPU backend and with llama.cpp's logits, within the fixture tolerances (F32 1e-3 max abs; F16/BF16 0.03;
 * quantized rms 0.15 and max 1.0). The 16 fixture tokens run as a prefill of 8 (mat-mat and tiled attention
 * kernels) followed by 8 single-token decodes (mat-vec and vector attention kernels).
 */
abstract class ForwardCases {

    /** A fresh device; {@code maxBufferLength} lets tests force weight windows. */
    protected abstract Device newDevice(long maxBufferLength);

    record Case(String model, String type, JsonNode entry, JsonNode modelEntry) {
        @Override
        public String toString() {
            return model + "-" + type;
        }

        Path gguf() {
            return Fixtures.path(entry.get("file").asText());
        }
    }

    static List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        addCases(Fixtures.index().get("models"), cases);
        try (var dirs = Files.list(Fixtures.root())) {
            for (Path d : dirs.sorted().toList()) {
                Path idx = d.resolve("index.json");
                if (Files.isDirectory(d) && Files.exists(idx)) {
                    addCases(Fixtures.readJson(idx).get("models"), cases);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return cases;
    }

    private static void addCases(JsonNode models, List<Case> cases) {
        for (Iterator<Map.Entry<String, JsonNode>> it = models.fields(); it.hasNext(); ) {
            var m = it.next();
            JsonNode files = m.getValue().get("files");
            if (files == null || m.getValue().get("logits_ids") == null) {
                continue;
            }
            for (Iterator<Map.Entry<String, JsonNode>> ft = files.fields(); ft.hasNext(); ) {
                var f = ft.next();
                Path p = Fixtures.path(f.getValue().get("file").asText());
                // the 1B model is not shipped in the repository (and would take hours on the CPU shim)
                if (Files.exists(p) && f.getValue().get("logits") != null && !m.getKey().startsWith("llama")) {
                    cases.add(new Case(m.getKey(), f.getKey(), f.getValue(), m.getValue()));
                }
            }
        }
    }

    /** Logits {@code [16][vocab]}: prefill of the first 8 ids (all logits), then one decode step per remaining id. */
    static float[] logits(Path gguf, Backend backend, int[] ids, KvType kv, int maxBatch, int context) {
        try (GgufFile file = GgufFile.open(gguf)) {
            ModelConfig cfg = ModelConfig.from(file);
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, maxBatch);
            int vocab = cfg.vocab();
            float[] out = new float[ids.length * vocab];
            int prefill = Math.min(8, ids.length);
            try (KvCache cache = stage.newCache(context, kv)) {
                float[] part = new float[prefill * vocab];
                stage.forward(Step.ofSequence(java.util.Arrays.copyOf(ids, prefill), 0, cache, true), part);
                System.arraycopy(part, 0, out, 0, part.length);
                float[] one = new float[vocab];
                for (int i = prefill; i < ids.length; i++) {
                    stage.forward(Step.ofSequence(new int[] {ids[i]}, i, cache, false), one);
                    System.arraycopy(one, 0, out, i * vocab, vocab);
                }
            }
            backend.sync();
            return out;
        }
    }

    static String compare(Case c, String against, float[] want, float[] got) {
        assertEquals(want.length, got.length);
        double maxAbs = 0;
        double sq = 0;
        for (int i = 0; i < got.length; i++) {
            double d = Math.abs(got[i] - want[i]);
            if (Double.isNaN(d)) {
                throw new AssertionError(c + ": logit " + i + " is NaN");
            }
            maxAbs = Math.max(maxAbs, d);
            sq += d * d;
        }
        double rms = Math.sqrt(sq / got.length);
        String stats = c + " metal vs " + against + ": max abs " + maxAbs + ", rms " + rms;
        switch (c.type()) {
            case "F32" -> assertTrue(maxAbs <= 1e-3, stats);
            case "F16", "BF16" -> assertTrue(maxAbs <= 0.03, stats);
            default -> assertTrue(rms <= 0.15 && maxAbs <= 1.0, stats);
        }
        return stats;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void logitsMatchTheCpuBackendAndLlamaCpp(Case c) {
        int[] ids = Fixtures.ints(c.modelEntry().get("logits_ids"));
        float[] llama = Fixtures.readF32(Fixtures.path(c.entry().get("logits").get("file").asText()));
        float[] cpu;
        try (CpuBackend b = new CpuBackend(1)) {
            cpu = logits(c.gguf(), b, ids, KvType.F32, 16, 64);
        }
        float[] metal;
        try (MetalBackend b = new MetalBackend(newDevice(1L << 30), true)) {
            metal = logits(c.gguf(), b, ids, KvType.F32, 16, 64);
            assertEquals(0, b.copiedWeightBytes(), "weights come from the file mapping without a copy");
        }
        // llama.cpp first: where the two references disagree, the message says which one Metal follows
        System.out.println(compare(c, "llama.cpp", llama, metal));
        System.out.println(compare(c, "cpu", cpu, metal));
    }

    @Test
    void f16CacheAndWeightWindowsMatchTheCpuBackend() {
        Case c = cases().stream().filter(k -> k.toString().equals("kq-Q8_0")).findFirst().orElseThrow();
        int[] ids = Fixtures.ints(c.modelEntry().get("logits_ids"));
        float[] cpu;
        try (CpuBackend b = new CpuBackend(1)) {
            cpu = logits(c.gguf(), b, ids, KvType.F16, 16, 32);
        }
        // 128 KiB buffers: the 768 x 256 feed-forward matrices (209 KB) are split over overlapping windows
        try (MetalBackend b = new MetalBackend(newDevice(128 * 1024), true)) {
            float[] metal = logits(c.gguf(), b, ids, KvType.F16, 16, 32);
            System.out.println(compare(c, "cpu (f16 cache, 128 KiB windows)", cpu, metal));
            assertEquals(0, b.copiedWeightBytes());
        }
    }

    @Test
    void stagesSplitAcrossMetalAndCpuMatchOneProcess() {
        Case c = cases().stream().filter(k -> k.toString().equals("small-Q4_0")).findFirst().orElseThrow();
        int[] ids = Fixtures.ints(c.modelEntry().get("logits_ids"));
        try (GgufFile file = GgufFile.open(c.gguf()); CpuBackend cpu = new CpuBackend(1);
             MetalBackend metal = new MetalBackend(newDevice(1L << 30), true)) {
            ModelConfig cfg = ModelConfig.from(file);
            int half = cfg.layers() / 2;
            Stage whole = Stage.load(file, cfg, 0, cfg.layers(), cpu, 16);
            Stage first = Stage.load(file, cfg, 0, half, metal, 16);
            Stage second = Stage.load(file, cfg, half, cfg.layers(), cpu, 16);
            float[] want = new float[ids.length * cfg.vocab()];
            float[] got = new float[ids.length * cfg.vocab()];
            float[] hidden = new float[ids.length * cfg.dim()];
            try (KvCache w = whole.newCache(64, KvType.F32); KvCache a = first.newCache(64, KvType.F32);
                 KvCache b = second.newCache(64, KvType.F32)) {
                whole.forward(Step.ofSequence(ids, 0, w, true), want);
                first.forward(Step.ofSequence(ids, 0, a, true), hidden);
                int[] pos = new int[ids.length];
                KvCache[] caches = new KvCache[ids.length];
                int[] rows = new int[ids.length];
                for (int i = 0; i < ids.length; i++) {
                    pos[i] = i;
                    caches[i] = b;
                    rows[i] = i;
                }
                second.forward(new Step(ids.length, null, hidden, pos, caches, rows), got);
            }
            System.out.println(compare(c, "cpu (layers split metal | cpu)", want, got));
        }
    }
}
