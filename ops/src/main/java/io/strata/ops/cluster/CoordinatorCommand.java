package io.strata.ops.cluster;

import io.strata.coordinator.Coordinator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.net.InetAddress;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code strata coordinator --zk H:P --model F}: competes for leadership (a second one waits as a standby), places the
 * model on the registered workers, keeps the plan in ZooKeeper and serves the OpenAI API once the pipeline is ready.
 */
@Command(name = "coordinator", description = "Run a coordinator (leader or standby): place the model, drive the pipeline, serve the API.")
public final class CoordinatorCommand implements Callable<Integer> {
    @Option(names = "--zk", required = true, description = "ZooKeeper connect string host:port[,host:port...]")
    String zk;

    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file; workers need a file of the same name in their models directory")
    Path model;

    @Option(names = "--port", defaultValue = "8080", description = "HTTP port of the OpenAI API and dashboard (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--id", description = "coordinator id (default: <host>-<port>)")
    String id;

    @Option(names = "--min-workers", defaultValue = "1", description = "place the model once this many workers are up (default: ${DEFAULT-VALUE})")
    int minWorkers;

    @Option(names = "--settle", defaultValue = "3000", description = "and once membership has been quiet this many ms (default: ${DEFAULT-VALUE})")
    long settleMillis;

    @Option(names = "--root", defaultValue = "/strata", description = "ZooKeeper root (default: ${DEFAULT-VALUE})")
    String root;

    @Mixin
    ClusterOptions cluster;

    @Override
    public Integer call() throws Exception {
        String me = id != null ? id : InetAddress.getLocalHost().getHostName() + "-" + port;
        Coordinator c = new Coordinator(cluster.config(zk, root, me, model, minWorkers, settleMillis));
        Serving s = Serving.start(c, model, port, model.getFileName().toString());
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            s.close();
            c.close();
            stop.countDown();
        }, "coordinator-shutdown"));
        System.err.println("strata coordinator: " + me + " for " + model + "; OpenAI API at http://0.0.0.0:" + s.port() + "/v1 (answers once "
                + "this coordinator leads and the pipeline is ready)");
        stop.await();
        return 0;
    }
}
