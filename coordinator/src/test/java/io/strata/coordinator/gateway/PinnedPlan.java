package io.strata.coordinator.gateway;

import io.strata.coordinator.Plan;
import io.strata.coordinator.placement.ModelProfile;
import io.strata.coordinator.zk.PlanStore;
import io.strata.coordinator.zk.ZkRecords;
import io.strata.engine.gguf.GgufFile;
import io.strata.worker.testing.WorkerProcesses;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Stores a plan with fixed layer ranges in ZooKeeper, as an earlier leader would have, so the coordinator takes it
 * over: tests and benchmarks get exactly the stages they ask for, whatever placement would pick for a small model.
 */
final class PinnedPlan {
    private PinnedPlan() {
    }

    /** {@code bounds}: layer boundaries, e.g. {@code 0, 6, 11, 16} for three stages; stage i goes to {@code workers.get(i)}. */
    static Plan store(String zk, Path model, List<WorkerProcesses.Handle> workers, int contextLength, int maxSequences, String kvType,
                      int maxBatch, int... bounds) throws Exception {
        try (GgufFile f = GgufFile.open(model);
             CuratorFramework c = CuratorFrameworkFactory.builder().connectString(zk).namespace("strata")
                     .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000)).build()) {
            c.start();
            ModelProfile profile = ModelProfile.of(model.getFileName().toString(), f, contextLength, maxSequences, kvType, maxBatch);
            List<Plan.Stage> stages = new ArrayList<>();
            for (int i = 0; i + 1 < bounds.length; i++) {
                WorkerProcesses.Handle w = workers.get(i);
                stages.add(new Plan.Stage(i, w.id(), w.address(), bounds[i], bounds[i + 1], profile.weightBytes(bounds[i], bounds[i + 1]),
                        profile.kvBytes(bounds[i], bounds[i + 1]), 0));
            }
            Plan p = new Plan(1, "pinned", model.getFileName().toString(), f.fingerprint(), null, contextLength, maxSequences, kvType,
                    "f32", maxBatch, List.copyOf(stages), 0);
            byte[] json = ZkRecords.json(ZkRecords.record(p));
            if (c.checkExists().forPath(PlanStore.PATH) == null) c.create().creatingParentsIfNeeded().forPath(PlanStore.PATH, json);
            else c.setData().forPath(PlanStore.PATH, json);
            return p;
        }
    }

    /** Layer boundaries splitting {@code layers} into {@code stages} ranges as evenly as possible, earlier ones larger. */
    static int[] even(int layers, int stages) {
        int[] b = new int[stages + 1];
        for (int i = 0; i < stages; i++) b[i + 1] = b[i] + layers / stages + (i < layers % stages ? 1 : 0);
        return b;
    }
}
