package io.strata.coordinator.zk;

import io.strata.coordinator.Plan;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The plan node against a real embedded ZooKeeper: round trip as readable JSON, and the leadership fence. */
class PlanStoreTest {

    static Plan plan(long version, String worker) {
        return new Plan(version, "c1", "m.gguf", "ab".repeat(32), new Plan.Checksums(new int[]{1, -2, 3}, 4, 5), 4096, 4, "f16", "bf16", 64,
                List.of(new Plan.Stage(0, worker, "127.0.0.1:7070", 0, 2, 100, 10, 0.01),
                        new Plan.Stage(1, "w2", "127.0.0.1:7071", 2, 3, 50, 5, 0.005)), 0.01);
    }

    @Test
    void storesReadablePlansAndOnlyWhileLeading() throws Exception {
        try (TestingServer server = new TestingServer(true);
             CuratorFramework a = client(server); CuratorFramework b = client(server)) {
            PlanStore store = new PlanStore(a);
            assertNull(store.read());
            LeaderLatch latchA = new LeaderLatch(a, "/leader", "a");
            latchA.start();
            assertTrue(latchA.await(10, TimeUnit.SECONDS));
            store.write(plan(1, "w1"), latchA.getOurPath());
            Plan read = new PlanStore(b).read();
            assertEquals(1, read.version());
            assertEquals("bf16", read.activations());
            assertArrayEquals(new int[]{1, -2, 3}, read.checksums().layers());
            assertEquals(plan(1, "w1").stages(), read.stages());
            String json = new String(b.getData().forPath(PlanStore.PATH), StandardCharsets.UTF_8);
            assertTrue(json.contains("\"workerId\": \"w1\"") && json.contains("\"fileName\": \"m.gguf\""), json);

            // A coordinator that lost its latch node cannot overwrite the plan.
            String oldPath = latchA.getOurPath();
            LeaderLatch latchB = new LeaderLatch(b, "/leader", "b");
            latchB.start();
            latchA.close();
            assertTrue(latchB.await(10, TimeUnit.SECONDS));
            assertThrows(KeeperException.NoNodeException.class, () -> store.write(plan(2, "w-stale"), oldPath));
            new PlanStore(b).write(plan(2, "w3"), latchB.getOurPath());
            assertEquals("w3", store.read().stages().getFirst().workerId());
            latchB.close();
        }
    }

    static CuratorFramework client(TestingServer s) {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(s.getConnectString()).namespace("strata")
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000)).build();
        c.start();
        return c;
    }
}
