package io.strata.coordinator.scheduler;

import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.sample.Sampler;
import io.strata.engine.sample.SamplingParams;
import io.strata.engine.sample.SequenceSampler;

/**
 * The reference: one process, one stage over every layer, the prompt as one batch, then one token per step; greedy
 * argmax, or the engine's sampler with given parameters.
 */
public final class EngineGreedy {
    private EngineGreedy() {
    }

    public static int[] generate(GgufFile file, int[] prompt, int n, KvType kvType) {
        ModelConfig cfg = ModelConfig.from(file);
        try (CpuBackend backend = new CpuBackend(1)) {
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, 512);
            float[] logits = new float[cfg.vocab()];
            int[] out = new int[n];
            try (KvCache cache = stage.newCache(prompt.length + n, kvType)) {
                stage.forward(Step.ofSequence(prompt, 0, cache, false), logits);
                for (int i = 0; i < n; i++) {
                    int best = 0;
                    for (int v = 1; v < cfg.vocab(); v++) if (logits[v] > logits[best]) best = v;
                    out[i] = best;
                    if (i + 1 < n) stage.forward(Step.ofSequence(new int[]{best}, prompt.length + i, cache, false), logits);
                }
            }
            return out;
        }
    }

    public static int[] sample(GgufFile file, int[] prompt, int n, KvType kvType, SamplingParams params) {
        ModelConfig cfg = ModelConfig.from(file);
        try (CpuBackend backend = new CpuBackend(1)) {
            Stage stage = Stage.load(file, cfg, 0, cfg.layers(), backend, 512);
            Sampler sampler = new Sampler(cfg.vocab());
            SequenceSampler seq = new SequenceSampler(params);
            float[] logits = new float[cfg.vocab()];
            int[] out = new int[n];
            try (KvCache cache = stage.newCache(prompt.length + n, kvType)) {
                stage.forward(Step.ofSequence(prompt, 0, cache, false), logits);
                for (int i = 0; i < n; i++) {
                    out[i] = sampler.sample(logits, 0, seq).token();
                    if (i + 1 < n) stage.forward(Step.ofSequence(new int[]{out[i]}, prompt.length + i, cache, false), logits);
                }
            }
            return out;
        }
    }
}
