package io.strata.worker.grpc;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.netty.channel.WriteBufferWaterMark;

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
    /**
     * Socket write buffering of every Strata connection, client and server side. Netty stops writing a channel at its
     * high water mark, 64 KiB by default, so a 16384-wide f32 frame (64 KiB and a few dozen bytes of header) left in
     * two writes, the second only after the first drained; a receiver woken on the sender's vCPU then held the sender
     * off until it had read the first part, and the frame arrived a few hundred microseconds late (BENCHMARKS.md,
     * "Cluster"). With 4 MiB a frame of a 405B model's decode step goes out in one write.
     */
    public static final WriteBufferWaterMark WRITE_BUFFER = new WriteBufferWaterMark(1 << 20, 4 << 20);
    /**
     * Socket reads of every Strata connection: Netty's adaptive guess, capped at 1 MiB instead of 64 KiB, so such a
     * frame is read in one call instead of two with its HTTP/2 decoding in between.
     */
    public static final AdaptiveRecvByteBufAllocator RECEIVE_BUFFER = new AdaptiveRecvByteBufAllocator(64, 2048, 1 << 20);
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
                .withOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WRITE_BUFFER)
                .withOption(ChannelOption.RCVBUF_ALLOCATOR, RECEIVE_BUFFER)
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
