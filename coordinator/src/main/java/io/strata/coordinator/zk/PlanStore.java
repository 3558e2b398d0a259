package io.strata.coordinator.zk;

import io.strata.coordinator.Plan;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

/**
 * The persistent, versioned {@code plan} node. Writes are fenced: they go through a ZooKeeper transaction that also
 * checks the writer's own leader-latch node still exists, so a coordinator that lost its session (and with it the
 * leadership) cannot overwrite the new leader's plan.
 */
public final class PlanStore {
    public static final String PATH = "/plan";

    private final CuratorFramework client;

    public PlanStore(CuratorFramework client) {
        this.client = client;
    }

    /** The stored plan, or null when there is none. */
    public Plan read() throws Exception {
        try {
            return ZkRecords.plan(ZkRecords.planRecord(client.getData().forPath(PATH)));
        } catch (KeeperException.NoNodeException e) {
            return null;
        }
    }

    /**
     * Stores {@code plan} if this coordinator still holds the latch node {@code latchPath}.
     *
     * @throws KeeperException when the fence or a concurrent write stops it
     */
    public void write(Plan plan, String latchPath) throws Exception {
        byte[] data = ZkRecords.json(ZkRecords.record(plan));
        Stat stat = client.checkExists().forPath(PATH);
        CuratorOp fence = client.transactionOp().check().forPath(latchPath);
        CuratorOp put = stat == null
                ? client.transactionOp().create().forPath(PATH, data)
                : client.transactionOp().setData().withVersion(stat.getVersion()).forPath(PATH, data);
        client.transaction().forOperations(fence, put);
    }
}
