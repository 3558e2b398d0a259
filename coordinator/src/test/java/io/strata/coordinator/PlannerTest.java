package io.strata.coordinator;

import io.strata.coordinator.placement.ModelProfile;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The leader's decisions, from literals. */
class PlannerTest {
    static final long MB = 1L << 20;
    static final ModelProfile MODEL = model();
    static final Planner.Target TARGET = new Planner.Target(MODEL, "m.gguf", "fp", null, "f32", 2, 0);

    static ModelProfile model() {
        long[] bytes = new long[4];
        Arrays.fill(bytes, 100 * MB);
        return new ModelProfile("m", 4, bytes, java.util.Collections.nCopies(4, Map.of()), 10 * MB, 10 * MB, Map.of(), false, 1024, 0, 0,
                256, 2, "f16", 16);
    }

    static WorkerInfo worker(String id) {
        return new WorkerInfo(id, id + ":7070", "cpu", 10_000 * MB, 10_000 * MB, 10e9, Map.of());
    }

    static WorkerState state(String id, WorkerState.Phase phase, long plan, int first, int end, String error) {
        return new WorkerState(id, phase, plan, first, end, "fp", error, 0, 0, 1, 0);
    }

    static Plan plan(long version) {
        return new Plan(version, "c", "m.gguf", "fp", null, 256, 2, "f16", "f32", 16,
                List.of(new Plan.Stage(0, "a", "a:7070", 0, 2, 0, 0, 0), new Plan.Stage(1, "b", "b:7070", 2, 4, 0, 0, 0)), 0);
    }

    static Planner.View view(Map<String, WorkerState> states, Plan plan, boolean open, Set<String> assigning, Map<String, String> excluded) {
        Map<String, WorkerInfo> workers = new HashMap<>();
        for (String id : List.of("a", "b", "c")) workers.put(id, worker(id));
        return new Planner.View(true, TARGET, workers, states, plan, assigning, excluded, open, 10_000);
    }

    @Test
    void aStandbyDoesNothingAndSaysSo() {
        var v = new Planner.View(false, TARGET, Map.of(), Map.of(), null, Set.of(), Map.of(), false, 0);
        var d = Planner.decide(v, "c");
        assertTrue(d.actions().isEmpty());
        assertTrue(d.notReady().contains("standby"), d.notReady());
    }

    @Test
    void placesWhenEnoughWorkersAnswerWithAVersionAboveAnyWorkerHolds() {
        var states = Map.of("a", state("a", WorkerState.Phase.IDLE, 0, 0, 0, ""), "b", state("b", WorkerState.Phase.READY, 7, 0, 4, ""),
                "c", WorkerState.unreachable("c", "UNAVAILABLE"));
        var d = Planner.decide(view(states, null, false, Set.of(), Map.of()), "coord");
        Planner.StorePlan s = assertInstanceOf(Planner.StorePlan.class, d.actions().getFirst());
        assertEquals(8, s.plan().version());
        assertTrue(s.plan().stages().stream().noneMatch(st -> st.workerId().equals("c")), "an unreachable worker is not placed");
    }

    @Test
    void waitsForStatusesThenAssignsThenOpens() {
        Plan p = plan(3);
        var none = Planner.decide(view(Map.of(), p, false, Set.of(), Map.of()), "c");
        assertTrue(none.actions().isEmpty());
        assertTrue(none.notReady().contains("no status yet"), none.notReady());

        var idle = Map.of("a", state("a", WorkerState.Phase.IDLE, 0, 0, 0, ""), "b", state("b", WorkerState.Phase.READY, 3, 2, 4, ""));
        var d = Planner.decide(view(idle, p, false, Set.of(), Map.of()), "c");
        assertEquals(List.of(new Planner.Assign("a", p.stages().get(0))), d.actions());
        assertTrue(Planner.decide(view(idle, p, false, Set.of("a"), Map.of()), "c").actions().isEmpty(), "no second Assign while one is in flight");

        var ready = Map.of("a", state("a", WorkerState.Phase.READY, 3, 0, 2, ""), "b", state("b", WorkerState.Phase.READY, 3, 2, 4, ""));
        var open = Planner.decide(view(ready, p, false, Set.of(), Map.of()), "c");
        assertEquals(List.of(new Planner.OpenPipeline()), open.actions());
        assertNull(open.notReady());
        var serving = Planner.decide(view(ready, p, true, Set.of(), Map.of()), "c");
        assertTrue(serving.actions().isEmpty());
        assertNull(serving.notReady());
    }

    @Test
    void anUnreachableStageBreaksThePipelineAndTheModelIsPlacedAgain() {
        Plan p = plan(3);
        var states = Map.of("a", state("a", WorkerState.Phase.READY, 3, 0, 2, ""), "b", WorkerState.unreachable("b", "UNAVAILABLE: io exception"),
                "c", state("c", WorkerState.Phase.IDLE, 0, 0, 0, ""));
        var d = Planner.decide(view(states, p, true, Set.of(), Map.of()), "c");
        Planner.BreakPipeline b = assertInstanceOf(Planner.BreakPipeline.class, d.actions().get(0));
        assertTrue(b.reason().contains("worker b (stage 1, layers [2, 4)) at b:7070 is unreachable: UNAVAILABLE"), b.reason());
        Planner.StorePlan s = assertInstanceOf(Planner.StorePlan.class, d.actions().get(1));
        assertEquals(4, s.plan().version());
        assertTrue(s.plan().stages().stream().noneMatch(st -> st.workerId().equals("b")));
    }

    @Test
    void aWorkerThatFailedToLoadIsLeftOutWithItsReason() {
        Plan p = plan(3);
        var states = Map.of("a", state("a", WorkerState.Phase.FAILED, 3, 0, 2, "model file /m/m.gguf not found"),
                "b", state("b", WorkerState.Phase.READY, 3, 2, 4, ""));
        var d = Planner.decide(view(states, p, false, Set.of(), Map.of()), "c");
        assertEquals(new Planner.Exclude("a", "model file /m/m.gguf not found"), d.actions().getFirst());
        assertTrue(d.notReady().contains("failed: model file /m/m.gguf not found"), d.notReady());
        // Next round: the exclusion makes the plan unusable; with too few usable workers the reason names it.
        var states2 = Map.of("a", states.get("a"), "b", states.get("b"), "c", WorkerState.unreachable("c", "down"));
        var d2 = Planner.decide(view(states2, p, false, Set.of(), Map.of("a", "model file /m/m.gguf not found")), "c");
        assertTrue(d2.notReady().contains("waiting for workers: 1 of at least 2 usable")
                && d2.notReady().contains("left out: worker a: model file /m/m.gguf not found"), d2.notReady());
    }

    @Test
    void aWorkerOutsideThePlanHoldingAStageIsReleased() {
        Plan p = plan(3);
        var states = Map.of("a", state("a", WorkerState.Phase.READY, 3, 0, 2, ""), "b", state("b", WorkerState.Phase.READY, 3, 2, 4, ""),
                "c", state("c", WorkerState.Phase.READY, 2, 0, 4, ""));
        var d = Planner.decide(view(states, p, true, Set.of(), Map.of()), "c");
        assertEquals(List.of(new Planner.Release("c")), d.actions());
    }

    static Planner.View viewOf(List<WorkerInfo> infos, Map<String, WorkerState> states, Plan plan) {
        Map<String, WorkerInfo> workers = new HashMap<>();
        for (WorkerInfo w : infos) workers.put(w.id(), w);
        return new Planner.View(true, TARGET, workers, states, plan, Set.of(), Map.of(), true, 10_000);
    }

    static Plan plan3(long version) {
        return new Plan(version, "c", "m.gguf", "fp", null, 256, 2, "f16", "f32", 16,
                List.of(new Plan.Stage(0, "a", "a:7070", 0, 1, 0, 0, 0), new Plan.Stage(1, "b", "b:7070", 1, 3, 0, 0, 0),
                        new Plan.Stage(2, "c", "c:7070", 3, 4, 0, 0, 0)), 0);
    }

    @Test
    void aLostStageGoesToAFreeWorkerAndTheSurvivorsKeepTheirRanges() {
        Plan p = plan3(5);
        var states = Map.of("a", state("a", WorkerState.Phase.READY, 5, 0, 1, ""), "b", WorkerState.unreachable("b", "UNAVAILABLE"),
                "c", state("c", WorkerState.Phase.READY, 5, 3, 4, ""), "d", state("d", WorkerState.Phase.IDLE, 0, 0, 0, ""));
        var d = Planner.decide(viewOf(List.of(worker("a"), worker("b"), worker("c"), worker("d")), states, p), "coord");
        Planner.StorePlan s = assertInstanceOf(Planner.StorePlan.class, d.actions().get(1));
        assertEquals(List.of("a[0, 1)", "d[1, 3)", "c[3, 4)"), s.plan().stages().stream().map(st -> st.workerId() + st.range()).toList());
        assertEquals("d:7070", s.plan().stages().get(1).address());
        assertTrue(d.notReady().contains("2 of 3 stages keep their workers and weights"), d.notReady());
        // Without a free worker the model is placed afresh over the survivors.
        var states2 = Map.of("a", states.get("a"), "b", states.get("b"), "c", states.get("c"));
        var d2 = Planner.decide(viewOf(List.of(worker("a"), worker("b"), worker("c")), states2, p), "coord");
        Planner.StorePlan s2 = assertInstanceOf(Planner.StorePlan.class, d2.actions().get(1));
        assertTrue(s2.plan().stages().stream().noneMatch(st -> st.workerId().equals("b")));
        assertEquals(0, s2.plan().stages().getFirst().first());
        assertEquals(4, s2.plan().stages().getLast().end());
        assertTrue(!d2.notReady().contains("keep their workers"), d2.notReady());
    }

    @Test
    void aRepairMuchSlowerThanAFreshPlacementIsNotTaken() {
        Plan p = plan3(5);
        // d is free but 10x slower than the others: giving it [1, 3) would make it the bottleneck.
        WorkerInfo slow = new WorkerInfo("d", "d:7070", "cpu", 10_000 * MB, 10_000 * MB, 1e9, Map.of());
        var states = Map.of("a", state("a", WorkerState.Phase.READY, 5, 0, 1, ""), "b", WorkerState.unreachable("b", "UNAVAILABLE"),
                "c", state("c", WorkerState.Phase.READY, 5, 3, 4, ""), "d", state("d", WorkerState.Phase.IDLE, 0, 0, 0, ""));
        long[] bytes = new long[4];
        Arrays.fill(bytes, 100 * MB);
        var timed = new ModelProfile("m", 4, bytes, java.util.Collections.nCopies(4, Map.of(io.strata.engine.tensor.GgmlType.Q4_0, 100 * MB)),
                10 * MB, 10 * MB, Map.of(), false, 1024, 0, 0, 256, 2, "f16", 16);
        Map<String, WorkerInfo> workers = new HashMap<>();
        for (WorkerInfo w : List.of(worker("a"), worker("b"), worker("c"), slow)) workers.put(w.id(), w);
        var v = new Planner.View(true, new Planner.Target(timed, "m.gguf", "fp", null, "f32", 2, 0), workers, states, p, Set.of(), Map.of(), true, 10_000);
        var d = Planner.decide(v, "coord");
        Planner.StorePlan s = assertInstanceOf(Planner.StorePlan.class, d.actions().get(1));
        assertTrue(!d.notReady().contains("keep their workers"), d.notReady());
        assertTrue(s.plan().stages().stream().noneMatch(st -> st.workerId().equals("d") && st.end() - st.first() == 2),
                s.plan().stages().toString());
    }
}
