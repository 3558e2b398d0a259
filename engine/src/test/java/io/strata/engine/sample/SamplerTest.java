package io.strata.engine.sample;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sampler against llama.cpp's greedy picks (fixture logits) and against plain reference implementations that
 * sort the whole vocabulary (top-k, top-p, min-p, penalties, log probabilities); the draw against the exact softmax.
 */
class SamplerTest {
    static final int LLAMA3_VOCAB = 128256;

    /** Logits shaped like a model's: a few strong candidates over a broad tail, with exact ties sprinkled in. */
    static float[] modelLikeLogits(int vocab, long seed, float spread) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[vocab];
        for (int i = 0; i < vocab; i++) x[i] = (float) (r.nextGaussian() * spread);
        for (int i = 0; i < 20; i++) x[r.nextInt(vocab)] = (float) (8 + r.nextGaussian());
        for (int i = 0; i < 50; i++) x[r.nextInt(vocab)] = x[r.nextInt(vocab)]; // ties
        return x;
    }

    /** Ids by logit descending, lowest id first on ties: the order every step uses. */
    static Integer[] order(float[] x) {
        Integer[] ids = new Integer[x.length];
        for (int i = 0; i < ids.length; i++) ids[i] = i;
        Arrays.sort(ids, Comparator.<Integer>comparingDouble(i -> -x[i]).thenComparingInt(i -> i));
        return ids;
    }

    /** Reference top-k -> top-p -> min-p with full sorts (llama.cpp's definitions: softmax over the current set). */
    static int[] referenceSurvivors(float[] x, SamplingParams p) {
        return referenceSurvivors(x, order(x), p);
    }

    static int[] referenceSurvivors(float[] x, Integer[] ids, SamplingParams p) {
        int n = p.topK() > 0 ? Math.min(p.topK(), x.length) : x.length;
        if (p.topP() < 1) {
            double max = x[ids[0]];
            double total = 0;
            for (int i = 0; i < n; i++) total += Math.exp(x[ids[i]] - max);
            double c = 0;
            int keep = n;
            for (int i = 0; i < n; i++) {
                c += Math.exp(x[ids[i]] - max);
                if (c >= p.topP() * total) {
                    keep = i + 1;
                    break;
                }
            }
            n = keep;
        }
        if (p.minP() > 0 && n > 1) {
            float threshold = x[ids[0]] + (float) Math.log(p.minP());
            int keep = 1;
            while (keep < n && x[ids[keep]] >= threshold) keep++;
            n = keep;
        }
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = ids[i];
        Arrays.sort(out);
        return out;
    }

    @Test
    void greedyIsArgmaxWithLowestIdOnTies() {
        Sampler s = new Sampler(6);
        SequenceSampler seq = new SequenceSampler(SamplingParams.greedy());
        assertEquals(2, s.sample(new float[] {1, 2, 5, 5, -1, 5}, 0, seq).token());
        assertEquals(2, s.sample(new float[] {Float.NaN, Float.NEGATIVE_INFINITY, -3, -3, -4, -5}, 0, seq).token());
        float[] row = {0, 0, 9, 0, 0, 0, /* second row */ 1, 7, 0, 7, 0, 0};
        assertEquals(1, s.sample(row, 6, seq).token());
    }

    /** Greedy on llama.cpp's own logits rows gives llama.cpp's argmax, for every fixture file and position. */
    @Test
    void greedyMatchesLlamaCppArgmaxOnFixtureLogits() {
        int rows = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = Fixtures.index().get("models").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> model = it.next();
            int vocab = model.getValue().get("n_vocab").asInt();
            for (Iterator<JsonNode> files = model.getValue().get("files").elements(); files.hasNext(); ) {
                JsonNode logits = files.next().get("logits");
                if (logits == null || !java.nio.file.Files.exists(Fixtures.path(logits.get("file").asText()))) continue;
                float[] all = Fixtures.readF32(Fixtures.path(logits.get("file").asText()));
                Sampler s = new Sampler(vocab);
                SequenceSampler seq = new SequenceSampler(SamplingParams.greedy());
                for (JsonNode pos : logits.get("positions")) {
                    int at = pos.get("pos").asInt() * vocab;
                    assertEquals(pos.get("argmax").asInt(), s.sample(all, at, seq).token());
                    rows++;
                }
            }
        }
        assertTrue(rows >= 100, "rows checked: " + rows);
    }

    @Test
    void truncationKeepsExactlyTheReferenceSets() {
        float[] sharp = modelLikeLogits(LLAMA3_VOCAB, 1, 1.0f);
        float[] flat = modelLikeLogits(LLAMA3_VOCAB, 2, 0.1f); // top-p has to reach deep into the tail
        Sampler s = new Sampler(LLAMA3_VOCAB);
        List<SamplingParams> settings = new ArrayList<>();
        for (int k : new int[] {0, 1, 40, 1000}) {
            for (float p : new float[] {1f, 0.95f, 0.5f, 0.05f}) {
                for (float minP : new float[] {0f, 0.05f, 0.5f}) {
                    settings.add(SamplingParams.builder().temperature(1).topK(k).topP(p).minP(minP).build());
                }
            }
        }
        for (float[] x : List.of(sharp, flat)) {
            Integer[] order = order(x);
            for (SamplingParams p : settings) {
                int[] expected = referenceSurvivors(x, order, p);
                int[] got = s.survivors(x, 0, new SequenceSampler(p));
                assertArrayEquals(expected, got, p.toString());
            }
        }
        // the flat row really exercised the adaptive head (more than 256 tokens inside top-p 0.95)
        assertTrue(referenceSurvivors(flat, SamplingParams.builder().topK(0).topP(0.95f).minP(0).build()).length > 4096);
    }

    @Test
    void penaltiesFollowLlamaCpp() {
        float[] x = {2f, -1f, 0.5f, 3f, -2f, 0f};
        SamplingParams p = SamplingParams.builder().temperature(0).repeatPenalty(1.5f).frequencyPenalty(0.25f)
                .presencePenalty(0.5f).penaltyLastN(4).build();
        SequenceSampler seq = new SequenceSampler(p);
        seq.accept(new int[] {3, 0, 1, 1, 4, 1}); // the window keeps the last 4: 1, 1, 4, 1
        float[] got = new Sampler(6).penalized(x, 0, seq);
        float[] want = x.clone();
        want[1] = -1f * 1.5f - (3 * 0.25f + 0.5f);
        want[4] = -2f * 1.5f - (0.25f + 0.5f);
        assertArrayEquals(want, got, 1e-6f);
        // a positive logit is divided
        SequenceSampler seq2 = new SequenceSampler(p);
        seq2.accept(3);
        assertEquals(3f / 1.5f - 0.75f, new Sampler(6).penalized(x, 0, seq2)[3], 1e-6f);
        // greedy sees the penalties: 3 is best until it has been used
        Sampler s = new Sampler(6);
        SequenceSampler g = new SequenceSampler(SamplingParams.builder().temperature(0).repeatPenalty(4f).build());
        assertEquals(3, s.sample(x, 0, g).token());
        assertEquals(0, s.sample(x, 0, g).token()); // 3 -> 0.75 now, so 0 (2.0) wins
    }

    @Test
    void seedMakesRunsReproducible() {
        float[] x = modelLikeLogits(LLAMA3_VOCAB, 3, 1.5f);
        SamplingParams p = SamplingParams.builder().temperature(1.2f).topK(0).topP(0.99f).minP(0).seed(42).build();
        int[] a = run(x, p, 300);
        int[] b = run(x, p, 300);
        assertArrayEquals(a, b);
        int[] c = run(x, SamplingParams.builder().temperature(1.2f).topK(0).topP(0.99f).minP(0).seed(43).build(), 300);
        assertNotEquals(Arrays.toString(a), Arrays.toString(c));
    }

    /**
     * A sequence moved to another sampler (a new last stage after a worker died) and resumed with the tokens generated
     * so far continues with exactly the tokens of an undisturbed run: each draw is a function of (seed, token index)
     * and the penalties see the restored history. A fresh sampler that is not told the history does not.
     */
    @Test
    void resumedSamplerContinuesAnUndisturbedRun() {
        int vocab = 2048;
        int steps = 40;
        float[][] rows = new float[steps][];
        for (int i = 0; i < steps; i++) rows[i] = modelLikeLogits(vocab, 100 + i % 3, 1f); // repeats: penalties bite
        SamplingParams p = SamplingParams.builder().temperature(0.9f).topK(0).topP(0.95f).minP(0)
                .repeatPenalty(1f).frequencyPenalty(0.7f).presencePenalty(0.4f).penaltyLastN(4096).seed(2024).build();
        Sampler first = new Sampler(vocab);
        SequenceSampler undisturbed = new SequenceSampler(p);
        int[] want = new int[steps];
        for (int i = 0; i < steps; i++) want[i] = first.sample(rows[i], 0, undisturbed).token();
        assertEquals(steps, undisturbed.generated());
        for (int k : new int[] {0, 1, 17, steps - 1}) {
            Sampler other = new Sampler(vocab);
            SequenceSampler resumed = new SequenceSampler(p);
            resumed.resume(Arrays.copyOf(want, k));
            for (int i = k; i < steps; i++) assertEquals(want[i], other.sample(rows[i], 0, resumed).token(), "token " + i + " after resuming at " + k);
        }
        int k = 17;
        SequenceSampler fresh = new SequenceSampler(p);
        int[] tail = new int[steps - k];
        for (int i = k; i < steps; i++) tail[i - k] = first.sample(rows[i], 0, fresh).token();
        assertNotEquals(Arrays.toString(Arrays.copyOfRange(want, k, steps)), Arrays.toString(tail));
        SequenceSampler twice = new SequenceSampler(p);
        twice.resume(new int[] {1});
        assertThrows(IllegalStateException.class, () -> twice.resume(new int[] {2}));
    }

    /** The penalties alone (greedy): a resumed sequence lowers the logits of the restored tokens like the original. */
    @Test
    void resumeRestoresThePenaltyHistory() {
        float[] x = {3f, 2.9f, 2.8f, 0f};
        SamplingParams p = SamplingParams.builder().temperature(0).repeatPenalty(1f).frequencyPenalty(0.5f).penaltyLastN(16).build();
        Sampler s = new Sampler(4);
        SequenceSampler resumed = new SequenceSampler(p);
        resumed.resume(new int[] {0, 1});
        assertEquals(2, s.sample(x, 0, resumed).token()); // 0 -> 2.5, 1 -> 2.4: 2 (2.8) wins
        assertEquals(3, resumed.generated());
    }

    private static int[] run(float[] x, SamplingParams p, int n) {
        Sampler s = new Sampler(x.length);
        SequenceSampler seq = new SequenceSampler(p);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = s.sample(x, 0, seq).token();
        return out;
    }

    /** The draw's frequencies against softmax(logits / T) over the survivors (fixed seed: deterministic). */
    @Test
    void drawFollowsTheTemperedDistribution() {
        float[] x = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 2.0f, 0.0f, 1.5f};
        for (float t : new float[] {0.5f, 1f, 2f}) {
            for (int k : new int[] {0, 3}) {
                SamplingParams p = SamplingParams.builder().temperature(t).topK(k).topP(1).minP(0).seed(7).build();
                int n = 200_000;
                int[] counts = new int[x.length];
                Sampler s = new Sampler(x.length);
                SequenceSampler seq = new SequenceSampler(p);
                for (int i = 0; i < n; i++) counts[s.sample(x, 0, seq).token()]++;
                int[] kept = referenceSurvivors(x, p);
                double total = 0;
                for (int id : kept) total += Math.exp(x[id] / t);
                for (int id = 0; id < x.length; id++) {
                    boolean in = Arrays.binarySearch(kept, id) >= 0;
                    double expected = in ? Math.exp(x[id] / t) / total : 0;
                    double sd = Math.sqrt(expected * (1 - expected) / n);
                    assertEquals(expected, counts[id] / (double) n, 5 * sd + 1e-9, "T=" + t + " k=" + k + " id=" + id);
                }
            }
        }
    }

    @Test
    void logprobsAreLogSoftmaxOfRawLogitsWithSortedAlternatives() {
        float[] x = modelLikeLogits(LLAMA3_VOCAB, 5, 1f);
        x[77] = 11f;
        x[78] = 11f; // a tie at the top: 77 first
        SamplingParams p = SamplingParams.builder().temperature(0).repeatPenalty(2f).logprobs(5).build();
        SequenceSampler seq = new SequenceSampler(p);
        seq.accept(77); // the penalty changes the pick, not the reported distribution
        Sample s = new Sampler(LLAMA3_VOCAB).sample(x, 0, seq);
        assertEquals(78, s.token());
        double max = 11;
        double sum = 0;
        for (float v : x) sum += Math.exp(v - max);
        double lse = max + Math.log(sum);
        assertEquals(x[78] - lse, s.logprob(), 1e-4);
        Integer[] ids = order(x);
        for (int i = 0; i < 5; i++) {
            assertEquals(ids[i], s.topIds()[i]);
            assertEquals(x[ids[i]] - lse, s.topLogprobs()[i], 1e-4);
        }
        assertEquals(77, s.topIds()[0]);
        Sample none = new Sampler(LLAMA3_VOCAB).sample(x, 0, new SequenceSampler(SamplingParams.greedy()));
        assertTrue(Float.isNaN(none.logprob()));
        assertEquals(0, none.topIds().length);
    }

    /** Degenerate rows (all -inf, NaN) still give a valid id instead of a stale or out-of-range one. */
    @Test
    void degenerateLogitsGiveAValidToken() {
        float[] allMinusInf = new float[1000];
        java.util.Arrays.fill(allMinusInf, Float.NEGATIVE_INFINITY);
        float[] nan = new float[1000];
        java.util.Arrays.fill(nan, Float.NaN);
        nan[123] = 1f;
        for (SamplingParams p : List.of(SamplingParams.builder().seed(1).build(),
                SamplingParams.builder().topK(0).topP(0.9f).minP(0).seed(1).build(),
                SamplingParams.builder().topK(0).topP(1).minP(0.1f).seed(1).build())) {
            Sampler s = new Sampler(1000);
            int t = s.sample(allMinusInf, 0, new SequenceSampler(p)).token();
            assertTrue(t >= 0 && t < 1000, p + " -> " + t);
            assertEquals(123, s.sample(nan, 0, new SequenceSampler(p)).token(), p.toString());
        }
    }

    @Test
    void badParametersAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SamplingParams.builder().topP(0).build());
        assertEquals("sampling parameter topP = 0.0: must be in (0, 1]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SamplingParams.builder().logprobs(21).build());
        assertEquals("sampling parameter topLogprobs = 21: must be in [0, 20]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SamplingParams.builder().temperature(-1).build());
        assertTrue(e.getMessage().startsWith("sampling parameter temperature = -1.0"));
        e = assertThrows(IllegalArgumentException.class, () -> new Sampler(4).sample(new float[7], 4, new SequenceSampler(SamplingParams.greedy())));
        assertEquals("logits row [4, 8) outside an array of 7", e.getMessage());
    }
}
