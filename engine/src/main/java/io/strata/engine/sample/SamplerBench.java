package io.strata.engine.sample;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Sampling cost per token over a Llama 3-sized vocabulary (128256), for the usual settings. A benchmark, not a test:
 *
 * <pre>java --add-modules jdk.incubator.vector -cp engine/target/classes io.strata.engine.sample.SamplerBench [reps=2000]</pre>
 *
 * Logits are Gaussian (sd 2) with a few strong candidates, roughly like a model's; "flat" uses sd 0.5, the worst
 * case for top-p without top-k (the kept set reaches deep into the vocabulary).
 */
public final class SamplerBench {
    private SamplerBench() {
    }

    public static void main(String[] args) {
        int vocab = 128256;
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        float[][] rows = {logits(vocab, 1, 2f), logits(vocab, 2, 2f), logits(vocab, 3, 2f), logits(vocab, 4, 2f)};
        float[][] flat = {logits(vocab, 5, 0.5f), logits(vocab, 6, 0.5f)};
        Object[][] cases = {
            {"greedy", SamplingParams.greedy(), rows},
            {"llama.cpp defaults (T 0.8, top-k 40, top-p 0.95, min-p 0.05)", SamplingParams.builder().seed(1).build(), rows},
            {"T 1, top-p 0.9 (no top-k)", SamplingParams.builder().temperature(1).topK(0).topP(0.9f).minP(0).seed(1).build(), rows},
            {"T 1, top-p 0.9, flat logits", SamplingParams.builder().temperature(1).topK(0).topP(0.9f).minP(0).seed(1).build(), flat},
            {"T 1, min-p 0.05 only", SamplingParams.builder().temperature(1).topK(0).topP(1).minP(0.05f).seed(1).build(), rows},
            {"T 1, no truncation", SamplingParams.builder().temperature(1).topK(0).topP(1).minP(0).seed(1).build(), rows},
            {"defaults + penalties (last 64)", SamplingParams.builder().repeatPenalty(1.1f).frequencyPenalty(0.2f).presencePenalty(0.2f).seed(1).build(), rows},
            {"defaults + logprobs, top 5", SamplingParams.builder().seed(1).logprobs(5).build(), rows},
        };
        Sampler sampler = new Sampler(vocab);
        System.out.println("{\"vocab\":" + vocab + ",\"reps\":" + reps + ",\"cases\":[");
        for (int c = 0; c < cases.length; c++) {
            SamplingParams p = (SamplingParams) cases[c][1];
            float[][] data = (float[][]) cases[c][2];
            SequenceSampler seq = new SequenceSampler(p);
            int sink = 0;
            for (int i = 0; i < reps / 4; i++) sink += sampler.sample(data[i % data.length], 0, seq).token(); // warm-up
            double[] us = new double[reps];
            for (int i = 0; i < reps; i++) {
                long t = System.nanoTime();
                sink += sampler.sample(data[i % data.length], 0, seq).token();
                us[i] = (System.nanoTime() - t) / 1e3;
            }
            Arrays.sort(us);
            System.out.printf("  {\"case\":\"%s\",\"us_median\":%.1f,\"us_p90\":%.1f,\"us_min\":%.1f,\"sink\":%d}%s%n",
                    cases[c][0], us[reps / 2], us[reps * 9 / 10], us[0], sink, c + 1 < cases.length ? "," : "");
        }
        System.out.println("]}");
    }

    private static float[] logits(int vocab, long seed, float sd) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[vocab];
        for (int i = 0; i < vocab; i++) x[i] = (float) (r.nextGaussian() * sd);
        for (int i = 0; i < 10; i++) x[r.nextInt(vocab)] = (float) (12 + 2 * r.nextGaussian());
        return x;
    }
}
