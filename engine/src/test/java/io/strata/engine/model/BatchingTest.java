package io.strata.engine.model;

import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Batching must not change results: a decode step that advances two sequences together, and a prompt prefilled in
 * chunks, give exactly the logits of running each sequence alone in one batch (rows are computed independently, in
 * the same order, whatever else is in the step).
 */
class BatchingTest {

    @ParameterizedTest
    @ValueSource(strings = {"kq/kq-Q4_K_M.gguf", "small/small-Q4_0.gguf", "tiny/tiny-F16.gguf"})
    void twoSequencesInOneStepEqualEachAlone(String model) {
        int[] a = {312, 292, 220, 268, 269, 64};
        int[] b = {312, 50, 271, 257};
        try (GgufFile file = GgufFile.open(Fixtures.path(model)); CpuBackend backend = new CpuBackend(2)) {
            ModelConfig cfg = ModelConfig.from(file);
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, 16);
            int vocab = cfg.vocab();
            float[] aAlone = new float[vocab];
            float[] bAlone = new float[vocab];
            float[] prefill = new float[vocab];
            try (KvCache ca = stage.newCache(16, KvType.F32); KvCache cb = stage.newCache(16, KvType.F32)) {
                stage.forward(Step.ofSequence(a, 0, ca, false), prefill);
                stage.forward(Step.ofSequence(new int[]{7}, a.length, ca, false), aAlone);
                stage.forward(Step.ofSequence(b, 0, cb, false), prefill);
                stage.forward(Step.ofSequence(new int[]{9}, b.length, cb, false), bAlone);
            }
            float[] both = new float[2 * vocab];
            try (KvCache ca = stage.newCache(16, KvType.F32); KvCache cb = stage.newCache(16, KvType.F32)) {
                // prefill both prompts in one step, then decode both in one step
                int n = a.length + b.length;
                int[] tokens = new int[n];
                int[] pos = new int[n];
                KvCache[] caches = new KvCache[n];
                for (int i = 0; i < a.length; i++) { tokens[i] = a[i]; pos[i] = i; caches[i] = ca; }
                for (int i = 0; i < b.length; i++) { tokens[a.length + i] = b[i]; pos[a.length + i] = i; caches[a.length + i] = cb; }
                stage.forward(new Step(n, tokens, null, pos, caches, new int[]{a.length - 1, n - 1}), both);
                stage.forward(new Step(2, new int[]{7, 9}, null, new int[]{a.length, b.length}, new KvCache[]{ca, cb}, new int[]{0, 1}), both);
            }
            assertArrayEquals(aAlone, java.util.Arrays.copyOfRange(both, 0, vocab), model + ": sequence a");
            assertArrayEquals(bAlone, java.util.Arrays.copyOfRange(both, vocab, 2 * vocab), model + ": sequence b");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 5})
    void chunkedPrefillEqualsOneBatch(int chunk) {
        int[] prompt = {312, 292, 220, 268, 269, 64, 288, 82, 256, 220, 67};
        try (GgufFile file = GgufFile.open(Fixtures.path("kq/kq-Q6_K.gguf")); CpuBackend backend = new CpuBackend(1)) {
            ModelConfig cfg = ModelConfig.from(file);
            float[] whole = new float[prompt.length * cfg.vocab()];
            float[] chunked = new float[prompt.length * cfg.vocab()];
            Stage one = Stage.load(file, cfg, 0, cfg.layers(), backend, 64);
            try (KvCache c = one.newCache(32, KvType.F16)) {
                one.forward(Step.ofSequence(prompt, 0, c, true), whole);
            }
            Stage small = Stage.load(file, cfg, 0, cfg.layers(), backend, chunk);
            try (KvCache c = small.newCache(32, KvType.F16)) {
                small.forward(Step.ofSequence(prompt, 0, c, true), chunked);
            }
            assertArrayEquals(whole, chunked);
        }
    }
}
