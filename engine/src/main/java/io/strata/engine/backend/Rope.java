package io.strata.engine.backend;

/**
 * Rotary position embedding parameters.
 *
 * @param dims        number of leading dimensions of each head that rotate ({@code rope.dimension_count})
 * @param neox        false: ggml's "normal" mode rotates adjacent pairs {@code (x[2i], x[2i+1])} (llama);
 *                    true: NeoX mode rotates {@code (x[i], x[i + dims/2])} (qwen2)
 * @param freqBase    {@code theta_i = pos * freqBase^(-2i/dims) / freqFactors[i]}
 * @param freqFactors per-pair divisors (llama3 scaling, from the {@code rope_freqs} tensor or computed from
 *                    {@code rope.scaling.*}), or null for none; length {@code dims/2}
 */
public record Rope(int dims, boolean neox, float freqBase, float[] freqFactors) {

    /** {@code theta} for pair {@code i} at position 0 per unit position (the inverse frequency). */
    public double invFreq(int i) {
        double f = Math.pow(freqBase, -2.0 * i / dims);
        return freqFactors == null ? f : f / freqFactors[i];
    }
}
