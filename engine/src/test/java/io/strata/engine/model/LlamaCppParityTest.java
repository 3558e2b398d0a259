package io.strata.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Model-level correctness: the engine's logits and greedy tokens against llama.cpp's own, for every fixture model and
 * weight type the project ships (tolerances from the oracle's README: F32 1e-3 max abs, F16 0.03, quantized rms 0.15
 * and max 1.0; greedy tokens equal while llama.cpp's recorded margin exceeds 0.5).
 */
class LlamaCppParityTest {

    static CpuBackend backend;

    @BeforeAll
    static void start() {
        backend = new CpuBackend(1);
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    record Case(String model, String type, JsonNode entry, JsonNode modelEntry) {
        @Override
        public String toString() {
            return model + "-" + type;
        }
    }

    /** Every (model, type) of fixtures/index.json (and fixtures/&lt;model&gt;/index.json) whose GGUF the project ships. */
    static List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        addCases(Fixtures.index().get("models"), cases);
        try (var dirs = Files.list(Fixtures.root())) {
            for (Path d : dirs.toList()) {
                Path idx = d.resolve("index.json");
                if (Files.isDirectory(d) && Files.exists(idx)) addCases(Fixtures.readJson(idx).get("models"), cases);
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return cases;
    }

    private static void addCases(JsonNode models, List<Case> cases) {
        for (Iterator<Map.Entry<String, JsonNode>> it = models.fields(); it.hasNext(); ) {
            var m = it.next();
            JsonNode files = m.getValue().get("files");
            if (files == null) continue;
            for (Iterator<Map.Entry<String, JsonNode>> ft = files.fields(); ft.hasNext(); ) {
                var f = ft.next();
                if (Files.exists(Fixtures.path(f.getValue().get("file").asText()))) {
                    cases.add(new Case(m.getKey(), f.getKey(), f.getValue(), m.getValue()));
                }
            }
        }
    }

    @Test
    void shipsTheFixturesItClaims() {
        List<String> names = cases().stream().map(Case::toString).toList();
        for (String want : List.of("tiny-F32", "tiny-F16", "tiny-Q8_0", "tiny-Q4_0", "tiny-Q4_K_M", "tiny-spm-F32",
                "tiny-spm-Q8_0", "kq-Q8_0", "kq-Q4_0", "kq-Q4_K_M", "kq-Q6_K", "small-Q4_0", "qwen2-F32", "qwen2-Q8_0", "tiny-rope-freqs-F32", "tiny-rope-freqs-Q8_0",
                "kq-Q2_K", "kq-Q3_K_M", "kq-Q5_K_M", "tiny-BF16", "tiny-Q4_1", "tiny-Q5_1")) {
            assertTrue(names.contains(want), "fixture " + want + " missing; have " + names);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void logitsMatchLlamaCpp(Case c) {
        JsonNode logitsEntry = c.entry().get("logits");
        int[] ids = Fixtures.ints(c.modelEntry().get("logits_ids"));
        int vocab = logitsEntry.get("n_vocab").asInt();
        float[] want = Fixtures.readF32(Fixtures.path(logitsEntry.get("file").asText()));
        assertEquals(ids.length * vocab, want.length);
        float[] got = new float[ids.length * vocab];
        try (GgufFile file = GgufFile.open(Fixtures.path(c.entry().get("file").asText()))) {
            ModelConfig cfg = ModelConfig.from(file);
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, 64);
            try (KvCache cache = stage.newCache(64, KvType.F32)) {
                stage.forward(Step.ofSequence(ids, 0, cache, true), got);
            }
        }
        double maxAbs = 0;
        double sq = 0;
        for (int i = 0; i < got.length; i++) {
            double d = Math.abs(got[i] - want[i]);
            maxAbs = Math.max(maxAbs, d);
            sq += d * d;
        }
        double rms = Math.sqrt(sq / got.length);
        String stats = c + ": max abs " + maxAbs + ", rms " + rms;
        System.out.println(stats);
        switch (c.type()) {
            case "F32" -> assertTrue(maxAbs <= 1e-3, stats);
            case "F16", "BF16" -> assertTrue(maxAbs <= 0.03, stats);
            default -> assertTrue(rms <= 0.15 && maxAbs <= 1.0, stats);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void greedyContinuationMatchesLlamaCpp(Case c) {
        JsonNode gen = c.entry().get("generate");
        int[] prompt = Fixtures.ints(gen.get("prompt_ids"));
        int[] want = Fixtures.ints(gen.get("generated_ids"));
        float[] margins = Fixtures.floats(gen.get("top1_minus_top2"));
        try (GgufFile file = GgufFile.open(Fixtures.path(c.entry().get("file").asText()))) {
            ModelConfig cfg = ModelConfig.from(file);
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, 64);
            float[] logits = new float[cfg.vocab()];
            try (KvCache cache = stage.newCache(prompt.length + want.length, KvType.F32)) {
                stage.forward(Step.ofSequence(prompt, 0, cache, false), logits);
                int pos = prompt.length;
                for (int i = 0; i < want.length; i++) {
                    if (margins[i] <= 0.5f) break; // from a near-tie on, either continuation is right
                    int next = argmax(logits);
                    assertEquals(want[i], next, c + ": token " + i + " (llama.cpp margin " + margins[i] + ")");
                    stage.forward(Step.ofSequence(new int[]{next}, pos++, cache, false), logits);
                }
            }
        }
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
