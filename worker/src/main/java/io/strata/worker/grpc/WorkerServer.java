package io.strata.worker.grpc;

import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.strata.proto.v1.StageServiceGrpc;
import io.strata.worker.Assignment;
import io.strata.worker.StageOutput;
import io.strata.worker.StageSlot;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The worker's gRPC server (control and stage services) and its links to the next stage, all on one transport thread
 * ({@link EventLoop}). Stage streams run on that thread (a short step is computed right there and written on to the
 * next stage by the same thread; see {@code StageHost}); control calls, which may touch the disk, run on a small pool.
 */
public final class WorkerServer implements StageSlot.Linker, AutoCloseable {
    /** Frames of credit each inbound stage stream gets. */
    public static final int WINDOW = 8;

    private final String workerId;
    private final StageSlot slot;
    private final EventLoop loop;
    private final Channels channels;
    private final ExecutorService controlPool;
    private Server server;
    private volatile String address;

    public WorkerServer(String workerId, StageSlot slot) {
        this.workerId = workerId;
        this.slot = slot;
        this.controlPool = Executors.newCachedThreadPool(Thread.ofPlatform().name("control-", 0).daemon().factory());
        this.loop = new EventLoop("transport-" + workerId);
        this.channels = new Channels(loop);
    }

    /**
     * Binds {@code bindHost:port} (port 0 = any free port) and starts serving.
     *
     * @param advertiseHost the host name other processes reach this worker by
     */
    public void start(String bindHost, int port, String advertiseHost) throws IOException {
        HelloGate gate = new HelloGate();
        // The address is only known after binding; the control service reads it when it reports.
        ControlService control = new ControlService(workerId, () -> address == null ? "" : address, slot);
        StageService stage = new StageService(workerId, slot, control, WINDOW);
        server = NettyServerBuilder.forAddress(new InetSocketAddress(bindHost, port))
                .bossEventLoopGroup(loop.group)
                .workerEventLoopGroup(loop.group)
                .channelType(loop.serverChannelType)
                .addTransportFilter(gate)
                .withChildOption(ChannelOption.WRITE_BUFFER_WATER_MARK, Channels.WRITE_BUFFER)
                .withChildOption(ChannelOption.RCVBUF_ALLOCATOR, Channels.RECEIVE_BUFFER)
                .addService(ServerInterceptors.intercept(control, gate))
                .addService(StageFrameMarshaller.bind(stage.bindService()))
                .executor(controlPool)
                .callExecutor(new ServerCallExecutorSupplier() {
                    @Override
                    public <Q, R> java.util.concurrent.Executor getExecutor(ServerCall<Q, R> call, Metadata metadata) {
                        return call.getMethodDescriptor().getServiceName().equals(StageServiceGrpc.SERVICE_NAME) ? Runnable::run : null;
                    }
                })
                .maxInboundMessageSize(Channels.MAX_MESSAGE_BYTES)
                .permitKeepAliveTime(5, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                .build()
                .start();
        int bound = ((InetSocketAddress) server.getListenSockets().getFirst()).getPort();
        address = advertiseHost + ":" + bound;
    }

    public String address() {
        return address;
    }

    public int port() {
        return ((InetSocketAddress) server.getListenSockets().getFirst()).getPort();
    }

    @Override
    public StageOutput connect(Assignment a, Consumer<String> onBroken) throws Exception {
        StageSlot.Status s = slot.status();
        var host = slot.host();
        if (host == null) throw new IllegalStateException("no stage is loaded");
        if (s.assignment() == null) throw new IllegalStateException("no assignment");
        return DownstreamLink.open(channels.get(a.next().address()), false, a, host.stage().config().dim(),
                "worker " + workerId + " (stage " + a.stage() + ")", onBroken);
    }

    @Override
    public void close() {
        if (server != null) {
            server.shutdownNow();
            try {
                server.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        channels.close();
        controlPool.shutdownNow();
        loop.close();
    }
}
