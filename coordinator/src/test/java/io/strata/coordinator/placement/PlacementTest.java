package io.strata.coordinator.placement;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlacementTest {
    static final long MB = 1L << 20;

    /** {@code layers} layers of 100 MiB, embedding 50 MiB, head 60 MiB, 1 MiB of KV per layer, no activation buffers. */
    static ModelProfile model(int layers) {
        long[] bytes = new long[layers];
        Arrays.fill(bytes, 100 * MB);
        return new ModelProfile("m", layers, bytes, java.util.Collections.nCopies(layers, Map.of()), 50 * MB, 60 * MB, Map.of(),
                false, 1024, 0, 0, 1024, 1, "f16", 1);
    }

    static Placement.Candidate worker(String id, long memory, double secondsPerLayer, int layers) {
        double[] s = new double[layers];
        Arrays.fill(s, secondsPerLayer);
        return new Placement.Candidate(id, memory, s, secondsPerLayer / 2);
    }

    static List<String> ranges(Placement.Result r) {
        return ((Placement.Placed) r).stages().stream().map(s -> s.workerId() + "[" + s.first() + "," + s.end() + ")").toList();
    }

    @Test
    void equalWorkersSplitEvenlyAndTheHeadMakesTheLastStageLighter() {
        var m = model(8);
        var r = Placement.place(m, List.of(worker("a", 10_000 * MB, 1, 8), worker("b", 10_000 * MB, 1, 8)));
        // 4 + 4.5 (with the head) is the best bottleneck; [0,5)+[5,8) would cost 5.
        assertEquals(List.of("a[0,4)", "b[4,8)"), ranges(r));
        assertEquals(4.5, ((Placement.Placed) r).bottleneckSeconds(), 1e-12);
    }

    @Test
    void aFasterWorkerTakesMoreLayers() {
        var m = model(9);
        var r = Placement.place(m, List.of(worker("slow", 10_000 * MB, 2, 9), worker("fast", 10_000 * MB, 1, 9)));
        // slow: 3 layers = 6 s; fast: 6 layers + head 0.5 = 6.5 s, the best achievable.
        assertEquals(List.of("slow[0,3)", "fast[3,9)"), ranges(r));
    }

    @Test
    void memoryLimitsAStageEvenWhenItIsFast() {
        var m = model(8);
        // "small" holds at most 2 layers (+ embedding + KV): 2*100 + 50 + 2 = 252 MiB.
        var r = Placement.place(m, List.of(worker("small", 260 * MB, 0.1, 8), worker("big", 10_000 * MB, 1, 8)));
        assertEquals(List.of("small[0,2)", "big[2,8)"), ranges(r));
        var s = ((Placement.Placed) r).stages().getFirst();
        assertEquals(200 * MB + 50 * MB, s.weightBytes());
        assertEquals(2L * 1024 * 1024, s.kvBytes());
    }

    @Test
    void aWorkerThatCannotHelpIsLeftOutRatherThanSlowingThePipeline() {
        var m = model(4);
        var r = Placement.place(m, List.of(worker("a", 10_000 * MB, 1, 4), worker("snail", 10_000 * MB, 100, 4)));
        assertEquals(List.of("a[0,4)"), ranges(r));
    }

    @Test
    void unevenSplitsFollowTheOrderGivenWhenTheyTie() {
        var m = model(4);
        var r = Placement.place(m, List.of(worker("a", 10_000 * MB, 1, 4), worker("b", 10_000 * MB, 3, 4)));
        // a: 3 layers (3 s), b: 1 layer + head (4.5 s) vs a 2 / b 2 (7.5) vs b first: b[0,1)=3, a[1,4)=3.5 -> best.
        assertEquals(List.of("b[0,1)", "a[1,4)"), ranges(r));
    }

    @Test
    void saysWhyAModelDoesNotFit() {
        var m = model(8);
        var total = Placement.place(m, List.of(worker("a", 300 * MB, 1, 8), worker("b", 300 * MB, 1, 8)));
        String why = assertInstanceOf(Placement.Unfit.class, total).reason();
        assertTrue(why.contains("needs 910 MiB of weights") && why.contains("the 2 workers offer 600 MiB"), why);

        var single = Placement.place(model(2), List.of(worker("a", 150 * MB, 1, 2), worker("b", 150 * MB, 1, 2), worker("c", 150 * MB, 1, 2)));
        String why2 = assertInstanceOf(Placement.Unfit.class, single).reason();
        assertTrue(why2.contains("layer 0 with the embedding alone needs 151 MiB but the largest worker (a) offers 150 MiB"), why2);

        var split = Placement.place(model(2), List.of(worker("a", 150 * MB, 1, 2), worker("b", 170 * MB, 1, 2)));
        String why3 = assertInstanceOf(Placement.Unfit.class, split).reason();
        assertTrue(why3.contains("no split into contiguous layer ranges fits"), why3);

        assertInstanceOf(Placement.Unfit.class, Placement.place(m, List.of()));
    }

    @Test
    void plansForFourHundredFiveBShapedModelsQuickly() {
        int layers = 126;
        long[] bytes = new long[layers];
        Arrays.fill(bytes, 1800 * MB);
        var m = new ModelProfile("405b", layers, bytes, java.util.Collections.nCopies(layers, Map.of()), 1200 * MB, 1300 * MB,
                Map.of(), false, 2L * 1024 * 2, 0, 0, 8192, 4, "f16", 512);
        var workers = new java.util.ArrayList<Placement.Candidate>();
        for (int i = 0; i < 16; i++) workers.add(worker("w" + i, (i % 2 == 0 ? 192L : 64L) << 30, i % 2 == 0 ? 0.004 : 0.008, layers));
        long t0 = System.nanoTime();
        var r = assertInstanceOf(Placement.Placed.class, Placement.place(m, workers));
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
        int covered = 0;
        for (var s : r.stages()) {
            assertEquals(covered, s.first());
            covered = s.end();
            assertTrue(s.totalBytes() <= s.memoryBytes());
        }
        assertEquals(layers, covered);
        assertTrue(PlanReport.render(m, r).contains("slowest stage"));
    }

    static Placement.Result repaired(ModelProfile m, List<Placement.Candidate> workers, Placement.Held... held) {
        Placement.Placed p = Placement.repair(m, workers, List.of(held));
        return p == null ? new Placement.Unfit("not repairable") : p;
    }

    @Test
    void aRepairKeepsTheSurvivorsAndGivesALostRangeToTheFastestFreeWorkerThatFits() {
        var m = model(8);
        var held = new Placement.Held[]{new Placement.Held("a", 0, 3), new Placement.Held("b", 3, 6), new Placement.Held("c", 6, 8)};
        // b is gone; d is too small for [3,6) (3 x 100 MiB + KV), e is slower than f.
        var workers = List.of(worker("a", 10_000 * MB, 1, 8), worker("c", 10_000 * MB, 1, 8), worker("d", 250 * MB, 0.1, 8),
                worker("e", 10_000 * MB, 2, 8), worker("f", 10_000 * MB, 1.5, 8));
        var r = repaired(m, workers, held);
        assertEquals(List.of("a[0,3)", "f[3,6)", "c[6,8)"), ranges(r));
        var p = (Placement.Placed) r;
        assertEquals(4.5, p.bottleneckSeconds(), 1e-12);  // f: 3 layers x 1.5 s
        assertEquals(List.of(0, 1, 2), p.stages().stream().map(Placement.StagePlan::stage).toList());
        // A fresh placement over the same workers moves stages (here it would use d for the embedding's range).
        assertTrue(!ranges(Placement.place(m, workers)).equals(ranges(r)));
    }

    @Test
    void aRepairIsRefusedWhenNoFreeWorkerCanTakeTheLostRangeOrNothingWasLost() {
        var m = model(8);
        var held = new Placement.Held[]{new Placement.Held("a", 0, 4), new Placement.Held("b", 4, 8)};
        // No free worker at all.
        assertInstanceOf(Placement.Unfit.class, repaired(m, List.of(worker("a", 10_000 * MB, 1, 8)), held));
        // The only free worker is too small.
        assertInstanceOf(Placement.Unfit.class, repaired(m, List.of(worker("a", 10_000 * MB, 1, 8), worker("d", 200 * MB, 1, 8)), held));
        // A survivor whose memory shrank below its range.
        assertInstanceOf(Placement.Unfit.class, repaired(m, List.of(worker("a", 300 * MB, 1, 8), worker("c", 10_000 * MB, 1, 8)), held));
        // Nothing lost: nothing to repair.
        assertInstanceOf(Placement.Unfit.class, repaired(m, List.of(worker("a", 10_000 * MB, 1, 8), worker("b", 10_000 * MB, 1, 8)), held));
        // Ranges that do not cover the model in order.
        assertInstanceOf(Placement.Unfit.class, repaired(m, List.of(worker("a", 10_000 * MB, 1, 8), worker("c", 10_000 * MB, 1, 8)),
                new Placement.Held("a", 0, 4), new Placement.Held("b", 5, 8)));
    }
}
