package io.strata.coordinator;

import io.strata.coordinator.placement.ModelProfile;
import io.strata.coordinator.placement.Placement;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The leader's decisions as a pure function of what it knows: given the registered workers, what each reports,
 * the stored plan and the target, return the next actions and, while no pipeline can serve, why. The coordinator's
 * loop executes the actions and calls again when anything changes; nothing here talks to ZooKeeper or gRPC.
 */
public final class Planner {
    private Planner() {
    }

    /** What to serve and how. */
    public record Target(ModelProfile profile, String fileName, String fingerprint, Plan.Checksums checksums,
                         String activations, int minWorkers, long settleMillis) {
    }

    /**
     * @param states         each worker's last report (absent: not heard from yet)
     * @param assigning      workers with an Assign call in flight
     * @param excluded       workers left out of placement for this model, with the reason (failed to load)
     * @param quietMillis    time since the set of registered workers last changed
     */
    public record View(boolean leader, Target target, Map<String, WorkerInfo> workers, Map<String, WorkerState> states,
                       Plan plan, Set<String> assigning, Map<String, String> excluded, boolean pipelineOpen,
                       long quietMillis) {
    }

    public sealed interface Action permits StorePlan, Assign, Release, Exclude, OpenPipeline, BreakPipeline {
    }

    public record StorePlan(Plan plan) implements Action {
    }

    public record Assign(String workerId, Plan.Stage stage) implements Action {
    }

    public record Release(String workerId) implements Action {
    }

    public record Exclude(String workerId, String reason) implements Action {
    }

    public record OpenPipeline() implements Action {
    }

    public record BreakPipeline(String reason) implements Action {
    }

    /**
     * @param notReady null when a pipeline serves (or is being opened over ready stages)
     * @param unfit    the placement's reason when the usable workers cannot hold the model (null otherwise)
     */
    public record Decision(List<Action> actions, String notReady, String unfit) {
        public Decision(List<Action> actions, String notReady) {
            this(actions, notReady, null);
        }
    }

    public static Decision decide(View v, String coordinatorId) {
        if (!v.leader()) return new Decision(List.of(), "this coordinator is a standby; the leader serves");
        List<Action> actions = new ArrayList<>();
        Target t = v.target();
        ModelProfile m = t.profile();
        Plan p = v.plan();

        String problem = planProblem(v);
        if (problem != null) {
            if (v.pipelineOpen()) actions.add(new BreakPipeline(problem));
            Map<String, WorkerInfo> candidates = new TreeMap<>();
            for (WorkerInfo w : v.workers().values()) {
                WorkerState s = v.states().get(w.id());
                if (s == null || s.phase() == WorkerState.Phase.UNREACHABLE || v.excluded().containsKey(w.id())) continue;
                candidates.put(w.id(), w);
            }
            String exclusions = exclusions(v);
            if (candidates.size() < t.minWorkers()) {
                return new Decision(actions, problem + "; waiting for workers: " + candidates.size() + " of at least "
                        + t.minWorkers() + " usable" + exclusions);
            }
            if (v.quietMillis() < t.settleMillis()) {
                return new Decision(actions, problem + "; waiting for the set of workers to settle" + exclusions);
            }
            List<Placement.Candidate> list = new ArrayList<>();
            for (WorkerInfo w : candidates.values()) {
                list.add(new Placement.Candidate(w.id(), w.usableMemoryBytes(),
                        m.layerSeconds(w.matmulBytesPerSecond(), w.bandwidthBytesPerSecond()),
                        m.headSeconds(w.matmulBytesPerSecond(), w.bandwidthBytesPerSecond())));
            }
            Placement.Result r = Placement.place(m, list);
            Placement.Placed placed = r instanceof Placement.Placed pl ? pl : null;
            Placement.Placed repaired = repair(v, list);
            int kept = 0;
            if (repaired != null && (placed == null || repaired.bottleneckSeconds() <= placed.bottleneckSeconds() * (1 + REPAIR_SLACK))) {
                placed = repaired;
                for (Plan.Stage s : p.stages()) if (candidates.containsKey(s.workerId())) kept++;
            }
            if (placed == null) {
                String reason = ((Placement.Unfit) r).reason();
                return new Decision(actions, problem + "; " + reason + exclusions, reason + exclusions);
            }
            List<Plan.Stage> stages = new ArrayList<>();
            for (Placement.StagePlan s : placed.stages()) {
                stages.add(new Plan.Stage(s.stage(), s.workerId(), candidates.get(s.workerId()).address(), s.first(), s.end(),
                        s.weightBytes(), s.kvBytes(), s.seconds()));
            }
            // Versions only grow, even if the stored plan was deleted: workers may still hold an older one.
            long version = p == null ? 0 : p.version();
            for (WorkerState st : v.states().values()) version = Math.max(version, st.planVersion());
            Plan next = new Plan(version + 1, coordinatorId, t.fileName(), t.fingerprint(), t.checksums(),
                    m.contextLength(), m.maxSequences(), m.kvType(), t.activations(), m.maxBatch(), List.copyOf(stages),
                    placed.bottleneckSeconds());
            actions.add(new StorePlan(next));
            String how = kept > 0 ? " (" + kept + " of " + stages.size() + " stages keep their workers and weights)" : "";
            return new Decision(actions, problem + "; storing " + next.describe() + how);
        }

        List<String> waiting = new ArrayList<>();
        for (Plan.Stage s : p.stages()) {
            WorkerState st = v.states().get(s.workerId());
            String where = "stage " + s.index() + " (layers " + s.range() + " on worker " + s.workerId() + ")";
            if (st == null) {
                waiting.add(where + ": no status yet");
                continue;
            }
            if (!st.holds(p.version(), s.first(), s.end())) {
                if (!v.assigning().contains(s.workerId())) actions.add(new Assign(s.workerId(), s));
                waiting.add(where + ": assigning");
                continue;
            }
            switch (st.phase()) {
                case READY -> { }
                case FAILED -> {
                    actions.add(new Exclude(s.workerId(), st.error()));
                    waiting.add(where + " failed: " + st.error());
                }
                default -> waiting.add(where + ": " + st.describe());
            }
        }
        for (WorkerInfo w : v.workers().values()) {
            if (p.stageOf(w.id()) != null || v.assigning().contains(w.id())) continue;
            WorkerState st = v.states().get(w.id());
            if (st != null && st.planVersion() != 0 && st.phase() != WorkerState.Phase.IDLE && st.phase() != WorkerState.Phase.UNREACHABLE) {
                actions.add(new Release(w.id()));
            }
        }
        if (waiting.isEmpty()) {
            if (!v.pipelineOpen()) actions.add(new OpenPipeline());
            return new Decision(actions, null);
        }
        String why = "pipeline " + p.describe() + " is not ready: " + String.join("; ", waiting);
        if (v.pipelineOpen()) actions.add(new BreakPipeline(why));
        return new Decision(actions, why);
    }

    /**
     * How much slower (bottleneck time per token) than the best fresh placement a repaired plan may be and still be
     * preferred: a fresh placement may move every stage, and on a large model each move reloads gigabytes, so keeping
     * the surviving stages where they are is worth a small loss of pace. With like workers the two are equally fast.
     */
    static final double REPAIR_SLACK = 0.05;

    /** The stored plan with its lost stages given to free workers (null when it cannot be repaired, see Placement). */
    private static Placement.Placed repair(View v, List<Placement.Candidate> candidates) {
        Plan p = v.plan();
        Target t = v.target();
        ModelProfile m = t.profile();
        if (p == null || !p.sameTarget(t.fingerprint(), m.contextLength(), m.maxSequences(), m.kvType(), t.activations(), m.maxBatch())) {
            return null;
        }
        List<Placement.Held> held = new ArrayList<>();
        for (Plan.Stage s : p.stages()) held.add(new Placement.Held(s.workerId(), s.first(), s.end()));
        return Placement.repair(m, candidates, held);
    }

    /** Why the stored plan cannot be used (null when it can). */
    static String planProblem(View v) {
        Plan p = v.plan();
        Target t = v.target();
        ModelProfile m = t.profile();
        if (p == null) return "no plan yet";
        if (!p.sameTarget(t.fingerprint(), m.contextLength(), m.maxSequences(), m.kvType(), t.activations(), m.maxBatch())) {
            return "the stored plan " + p.version() + " is for another model or other limits";
        }
        for (Plan.Stage s : p.stages()) {
            String where = "worker " + s.workerId() + " (stage " + s.index() + ", layers " + s.range() + ")";
            WorkerInfo w = v.workers().get(s.workerId());
            if (w == null) return where + " left the cluster";
            if (!w.address().equals(s.address())) return where + " moved from " + s.address() + " to " + w.address();
            String ex = v.excluded().get(s.workerId());
            if (ex != null) return where + " cannot serve: " + ex;
            WorkerState st = v.states().get(s.workerId());
            if (st != null && st.phase() == WorkerState.Phase.UNREACHABLE) return where + " at " + s.address() + " is unreachable: " + st.error();
        }
        return null;
    }

    private static String exclusions(View v) {
        if (v.excluded().isEmpty()) return "";
        StringBuilder sb = new StringBuilder(" (left out:");
        for (var e : new TreeMap<>(v.excluded()).entrySet()) sb.append(" worker ").append(e.getKey()).append(": ").append(e.getValue()).append(';');
        sb.setLength(sb.length() - 1);
        return sb.append(')').toString();
    }
}
