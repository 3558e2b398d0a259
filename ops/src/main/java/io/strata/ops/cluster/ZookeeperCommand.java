package io.strata.ops.cluster;

import io.strata.coordinator.zk.EmbeddedZooKeeper;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code strata zookeeper}: a standalone ZooKeeper server for a Strata cluster (one per cluster; see the manifests for an ensemble). */
@Command(name = "zookeeper", description = "Run a standalone ZooKeeper server for the cluster.")
public final class ZookeeperCommand implements Callable<Integer> {
    @Option(names = "--port", defaultValue = "2181", description = "client port (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--bind", defaultValue = "0.0.0.0", description = "address to listen on (default: ${DEFAULT-VALUE})")
    String bind;

    @Option(names = "--data", description = "data directory (default: a temporary one, deleted at exit)")
    Path data;

    @Override
    public Integer call() throws Exception {
        EmbeddedZooKeeper zk = EmbeddedZooKeeper.start(bind, port, data);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            zk.close();
            stop.countDown();
        }, "zookeeper-shutdown"));
        System.err.println("strata zookeeper: serving on " + bind + ":" + zk.port() + (data == null ? " (temporary data)" : " (data in " + data + ")"));
        stop.await();
        return 0;
    }
}
