package io.strata.worker;

import io.strata.engine.sample.StageSampling;
import io.strata.engine.sample.SamplingParams;
import io.strata.engine.sample.SequenceSampler;

/**
 * The last stage's token choice, with the engine's sampler ({@link io.strata.engine.sample.Sampler}), so a sequence
 * sampled over the cluster gets exactly the tokens one process gives for the same logits and parameters.
 * Temperature 0 without penalties is greedy argmax (lowest id on ties). Otherwise, in the engine's order: OpenAI's
 * frequency and presence penalties over the tokens sampled for the sequence so far (not its prompt; up to the
 * context length), top-k, top-p, min-p, temperature, and a seeded draw whose random number depends only on the seed
 * and the index of the generated token (so a seeded request is reproducible). With penalties and temperature 0 it is
 * the argmax of the penalized logits. A sequence replayed after a worker died arrives with the tokens it generated
 * before ({@link StageSampling#generated}): its sampler starts from them, and goes on as the lost one would have.
 *
 * <p>One instance per stage thread: the engine's sampler owns working buffers the size of the vocabulary (allocated
 * at the first sequence that needs more than an argmax); the per-sequence state ({@link SequenceSampler}: parameters,
 * random generator, penalty history) lives in the sequence's {@link SequenceTable.Entry} until it is released.
 */
final class Sampler {
    private final int vocab;
    private final int contextLength;
    private io.strata.engine.sample.Sampler engine;

    /**
     * @param vocab         logits per row
     * @param contextLength positions per sequence: the penalty history holds up to this many sampled tokens
     */
    Sampler(int vocab, int contextLength) {
        this.vocab = vocab;
        this.contextLength = Math.max(1, contextLength);
    }

    /** Why {@code p} cannot be used for sampling, or null when it can. */
    static String invalid(StageSampling p) {
        if (p == null || (p.greedy() && !p.penalized())) return null;
        try {
            params(p, 1);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    /**
     * Picks the next token of {@code seq} from {@code logits[off, off + vocab)}. The sequence's first sampled chunk
     * fixes its parameters (and the tokens generated before, for a replayed sequence); later chunks continue its draw
     * index and penalty history.
     */
    int pick(float[] logits, int off, StageSampling p, SequenceTable.Entry seq) {
        if (seq.sampler == null) {
            if (p == null || (p.greedy() && !p.penalized())) return TokenPicker.argmax(logits, off, vocab);
            seq.sampler = new SequenceSampler(params(p, contextLength));
            if (p.generated().length > 0) seq.sampler.resume(p.generated());
        }
        if (engine == null) engine = new io.strata.engine.sample.Sampler(vocab);
        return engine.sample(logits, off, seq.sampler).token();
    }

    /**
     * The wire's parameters in the engine's terms (as the gateway's one-process pipeline builds them): top-p 0 means
     * off, no repetition penalty, the frequency and presence penalties over every sampled token.
     */
    static SamplingParams params(StageSampling p, int contextLength) {
        float topP = p.topP() > 0f && p.topP() < 1f ? p.topP() : 1f;
        return SamplingParams.builder().temperature(Math.max(0f, p.temperature())).topK(p.topK()).topP(topP).minP(p.minP())
                .repeatPenalty(1f).frequencyPenalty(p.frequencyPenalty()).presencePenalty(p.presencePenalty())
                .penaltyLastN(p.penalized() ? contextLength : 0).seed(p.seed()).build();
    }
}
