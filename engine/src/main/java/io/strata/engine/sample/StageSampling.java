package io.strata.engine.sample;

/**
 * How a pipeline's last stage picks a sequence's next token, as it travels with the sequence between the coordinator
 * and the workers: temperature 0 is greedy argmax (lowest id on ties); top-p 0 (or 1) and top-k 0 are off. The
 * frequency and presence penalties (OpenAI's) lower the logits of tokens already sampled for the sequence (not its
 * prompt). {@code generated}: the tokens the sequence generated before this pipeline saw it (a replay after a worker
 * died; empty otherwise), read where the last stage first samples the sequence: they count for the penalties, and the
 * seeded draws go on at index {@code generated.length}.
 */
public record StageSampling(float temperature, int topK, float topP, float minP, long seed, float frequencyPenalty,
                            float presencePenalty, int[] generated) {
    private static final int[] NONE = new int[0];
    public static final StageSampling GREEDY = new StageSampling(0f, 0, 0f, 0f, 0L);

    public StageSampling {
        generated = generated == null ? NONE : generated;
    }

    /** A sequence the pipeline sees from its first token. */
    public StageSampling(float temperature, int topK, float topP, float minP, long seed, float frequencyPenalty,
                         float presencePenalty) {
        this(temperature, topK, topP, minP, seed, frequencyPenalty, presencePenalty, NONE);
    }

    /** Without penalties. */
    public StageSampling(float temperature, int topK, float topP, float minP, long seed) {
        this(temperature, topK, topP, minP, seed, 0f, 0f);
    }

    public boolean greedy() {
        return temperature <= 0f;
    }

    public boolean penalized() {
        return frequencyPenalty != 0f || presencePenalty != 0f;
    }
}
