package io.strata.ops.cluster;

import io.strata.engine.cpu.CpuBackend;
import io.strata.metal.Backends;
import io.strata.engine.util.Bytes;
import io.strata.worker.Worker;
import io.strata.worker.WorkerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.InetAddress;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code strata worker --zk H:P [--memory 48g] [--models DIR]}: registers in ZooKeeper and holds whatever layer range
 * the coordinator assigns. Stops cleanly (deregisters, frees its stage) on SIGTERM or Ctrl-C.
 */
@Command(name = "worker", description = "Run a worker: register in ZooKeeper and serve the layers the coordinator assigns.")
public final class WorkerCommand implements Callable<Integer> {
    @Option(names = "--zk", required = true, description = "ZooKeeper connect string host:port[,host:port...]")
    String zk;

    @Option(names = "--memory", description = "memory for weights and KV caches, e.g. 48g (default: 80% of physical memory)")
    String memory;

    @Option(names = "--models", defaultValue = "${env:STRATA_MODELS:-models}", description = "directory holding the model files (default: ${DEFAULT-VALUE})")
    Path models;

    @Option(names = "--port", defaultValue = "7070", description = "gRPC port, 0 for any (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--bind", defaultValue = "0.0.0.0", description = "address to listen on (default: ${DEFAULT-VALUE})")
    String bind;

    @Option(names = "--host", description = "host name other machines reach this worker by (default: this machine's name)")
    String host;

    @Option(names = "--id", description = "worker id (default: <host>-<port>)")
    String id;

    @Option(names = {"-t", "--threads"}, defaultValue = "1", description = "CPU threads (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--backend", defaultValue = "auto", description = "auto, cpu or metal (default: ${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--root", defaultValue = "/strata", description = "ZooKeeper root (default: ${DEFAULT-VALUE})")
    String root;

    @Option(names = "--bench-bytes", defaultValue = "256m", description = "bytes the start-up self-benchmark streams (default: ${DEFAULT-VALUE})")
    String benchBytes;

    @Option(names = "--session-timeout", defaultValue = "15000", description = "ZooKeeper session timeout in ms (default: ${DEFAULT-VALUE})")
    int sessionTimeout;

    @Option(names = "--exit-with-stdin", hidden = true, description = "exit when standard input closes (set by strata local)")
    boolean exitWithStdin;

    @Override
    public Integer call() throws Exception {
        String advertise = host != null ? host : (bind.equals("0.0.0.0") ? InetAddress.getLocalHost().getHostName() : bind);
        WorkerConfig c = new WorkerConfig(zk, root, bind, advertise, port, id, memory == null ? 0 : Bytes.parse(memory),
                models.toAbsolutePath(), Backends.open(backend, () -> new CpuBackend(threads)), Bytes.parse(benchBytes), sessionTimeout);
        Worker w = Worker.start(c);
        Runtime.getRuntime().addShutdownHook(new Thread(w::close, "worker-shutdown"));
        if (exitWithStdin) {
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    while (System.in.read() >= 0) {
                        // the parent keeps the pipe open while it wants this worker
                    }
                } catch (java.io.IOException e) {
                    // parent gone
                }
                w.close();
            });
        }
        System.out.println("READY " + w.id() + " " + w.address());
        System.out.flush();
        System.err.println("strata worker: " + w.id() + " serving on " + w.address() + ", budget " + Bytes.format(w.budget())
                + ", models in " + c.modelsDir() + ", registered at " + zk);
        w.awaitClosed();
        return 0;
    }
}
