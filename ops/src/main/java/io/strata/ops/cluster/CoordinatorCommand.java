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
@Command(name = "coordinator", mixinStandardHelpOptions = true, description = "Run a coordinator (leader or standby): place the model, drive the pipeline, serve the API.")
public final class CoordinatorCommand implements Callable<Integer> {
    @Option(names = "--zk", required = true, description = "ZooKeeper connect string host:port[,host:port...]")
    String zk;

    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file; workers need a file of the same name in their models directory")
    Path model;

    @Option(names = "--id", description = "coordinator id (default: <host>-<port>)")
    String id;

    @Option(names = "--min-workers", defaultValue = "1", description = "place the model once this many workers are up (default: ${DEFAULT-VALUE})")
    int minWorkers;

    @Option(names = "--settle", defaultValue = "3000", description = "and once membership has been quiet this many ms (default: ${DEFAULT-VALUE})")
    long settleMillis;

    @Option(names = "--root", defaultValue = "/strata", description = "ZooKeeper root (default: ${DEFAULT-VALUE})")
    String root;

    @Mixin
    GatewayOptions gateway;

    @Mixin
    ClusterOptions cluster;

    @Override
    public Integer call() throws Exception {
        String me = id != null ? id : InetAddress.getLocalHost().getHostName() + "-" + gateway.port;
        var gatewayConfig = gateway.config(model.getFileName().toString());
        Coordinator c = new Coordinator(cluster.config(zk, root, me, model, minWorkers, settleMillis));
        Serving s = Serving.start(c, model, gatewayConfig);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            s.close();
            c.close();
            stop.countDown();
        }, "coordinator-shutdown"));
        System.err.println("strata coordinator: " + me + " for " + model + "; OpenAI API at http://" + gateway.displayHost() + ":" + s.port()
                + "/v1" + (gateway.wildcard() ? " on every interface" : "") + (gatewayConfig.apiKeys().isEmpty() ? "" : " with "
                + gatewayConfig.apiKeys().size() + " API key(s)") + " (answers once this coordinator leads and the pipeline is ready)");
        String exposed = gateway.exposureWarning();
        if (exposed != null) System.err.println("strata coordinator: warning: " + exposed);
        stop.await();
        return 0;
    }
}
