package io.strata.worker.grpc;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Channels to other Strata processes, one per address, built the same way everywhere: plaintext (run the cluster on
 * a private network), a direct executor (callbacks only hand work on), large messages (a prefill chunk of a 405B
 * model is 32 MiB in f32), keepalive pings so a peer that vanished without a reset is noticed (a ping after 10 s
 * without reads, 20 s to answer it: a worker may be computing a step on its transport thread, see
 * {@code StageHost.INLINE_BUDGET_NANOS}). A worker's channels run
 * on its server's event loop ({@link EventLoop}).
 */
public final class Channels implements AutoCloseable {
    public static final int MAX_MESSAGE_BYTES = 512 << 20;
    private final Map<String, ManagedChannel> channels = new HashMap<>();
    private final EventLoop loop;

    /** @param loop the event loop the channels run on; null for gRPC's shared default */
    Channels(EventLoop loop) {
        this.loop = loop;
    }

    /** A channel on gRPC's shared default event loops. */
    public static ManagedChannel build(String address) {
        return build(address, null);
    }

    static ManagedChannel build(String address, EventLoop loop) {
        NettyChannelBuilder b = NettyChannelBuilder.forTarget(address);
        if (loop != null) b.eventLoopGroup(loop.group).channelType(loop.channelType);
        return b.usePlaintext()
                .directExecutor()
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .keepAliveTime(10, TimeUnit.SECONDS)
                .keepAliveTimeout(20, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(true)
                .build();
    }

    public synchronized ManagedChannel get(String address) {
        ManagedChannel c = channels.get(address);
        if (c == null || c.isShutdown()) {
            c = build(address, loop);
            channels.put(address, c);
        }
        return c;
    }

    @Override
    public synchronized void close() {
        for (ManagedChannel c : channels.values()) c.shutdownNow();
        channels.clear();
    }
}
