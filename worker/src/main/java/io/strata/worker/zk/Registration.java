package io.strata.worker.zk;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.strata.proto.v1.WorkerRecord;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.zookeeper.CreateMode;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * The worker's ephemeral node {@code workers/<id>} holding its {@link WorkerRecord} as JSON. Curator's
 * {@link PersistentNode} re-creates it after a session expiry, so a worker that was cut off and comes back is seen
 * again without a restart; closing deletes it at once (a clean shutdown is noticed immediately).
 */
public final class Registration implements AutoCloseable {
    public static final String WORKERS = "/workers";

    private final PersistentNode node;

    public Registration(CuratorFramework client, WorkerRecord record) {
        this.node = new PersistentNode(client, CreateMode.EPHEMERAL, false, WORKERS + "/" + record.getWorkerId(), json(record));
    }

    /** Starts and waits up to {@code seconds} for the node to exist; false when ZooKeeper did not answer in time. */
    public boolean start(long seconds) throws InterruptedException {
        node.start();
        return node.waitForInitialCreate(seconds, TimeUnit.SECONDS);
    }

    public void update(WorkerRecord record) throws Exception {
        node.setData(json(record));
    }

    public static byte[] json(WorkerRecord r) {
        try {
            return JsonFormat.printer().print(r).getBytes(StandardCharsets.UTF_8);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }

    public static WorkerRecord parse(byte[] json) throws InvalidProtocolBufferException {
        WorkerRecord.Builder b = WorkerRecord.newBuilder();
        JsonFormat.parser().ignoringUnknownFields().merge(new String(json, StandardCharsets.UTF_8), b);
        return b.build();
    }

    @Override
    public void close() throws Exception {
        node.close();
    }
}
