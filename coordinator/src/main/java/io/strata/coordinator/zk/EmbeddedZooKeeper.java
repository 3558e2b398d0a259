package io.strata.coordinator.zk;

import org.apache.zookeeper.server.ServerCnxnFactory;
import org.apache.zookeeper.server.ZooKeeperServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A standalone ZooKeeper server in this process ({@code strata zookeeper}, {@code strata local}). For a replicated
 * ensemble run Apache ZooKeeper itself (see k8s-like-manifests/); Strata needs nothing beyond a plain server.
 */
public final class EmbeddedZooKeeper implements AutoCloseable {
    private final ServerCnxnFactory factory;
    private final ZooKeeperServer server;
    private final Path dataDir;
    private final boolean deleteOnClose;

    private EmbeddedZooKeeper(ServerCnxnFactory factory, ZooKeeperServer server, Path dataDir, boolean deleteOnClose) {
        this.factory = factory;
        this.server = server;
        this.dataDir = dataDir;
        this.deleteOnClose = deleteOnClose;
    }

    /**
     * Starts a server on {@code host:port} (port 0 = any free port).
     *
     * @param dataDir snapshots and transaction log; null = a temporary folder deleted on close
     */
    public static EmbeddedZooKeeper start(String host, int port, Path dataDir) throws IOException, InterruptedException {
        boolean temp = dataDir == null;
        Path dir = temp ? Files.createTempDirectory("strata-zk") : dataDir;
        Files.createDirectories(dir);
        // No admin HTTP server and no four-letter-word surprises in an embedded server.
        System.setProperty("zookeeper.admin.enableServer", "false");
        ZooKeeperServer zk = new ZooKeeperServer(dir.resolve("snap").toFile(), dir.resolve("log").toFile(), 500);
        ServerCnxnFactory f = ServerCnxnFactory.createFactory(new InetSocketAddress(host, port), 200);
        f.startup(zk);
        return new EmbeddedZooKeeper(f, zk, dir, temp);
    }

    public int port() {
        return factory.getLocalPort();
    }

    /** {@code host:port} for clients. */
    public String connectString() {
        InetSocketAddress a = factory.getLocalAddress();
        String host = a.getAddress().isAnyLocalAddress() ? "127.0.0.1" : a.getHostString();
        return host + ":" + a.getPort();
    }

    @Override
    public void close() {
        factory.shutdown();
        if (server.isRunning()) server.shutdown();
        if (deleteOnClose) {
            try (Stream<Path> s = Files.walk(dataDir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                // best effort: a temporary folder
            }
        }
    }
}
