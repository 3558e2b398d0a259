package io.strata.coordinator.grpc;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The coordinator's channels to workers, one per address: plaintext, direct executor (callbacks only hand work on),
 * large messages (logits of a prefill chunk), keepalive pings so a worker that vanished without a reset is noticed (a
 * ping after 10 s without reads, 20 s to answer it: a worker may be computing a step on its transport thread for up to
 * about 2 s, longer on an overloaded machine).
 */
public final class Channels implements AutoCloseable {
    public static final int MAX_MESSAGE_BYTES = 512 << 20;
    private final Map<String, ManagedChannel> channels = new HashMap<>();

    public synchronized ManagedChannel get(String address) {
        ManagedChannel c = channels.get(address);
        if (c == null || c.isShutdown()) {
            c = NettyChannelBuilder.forTarget(address).usePlaintext().directExecutor()
                    .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                    .keepAliveTime(10, TimeUnit.SECONDS).keepAliveTimeout(20, TimeUnit.SECONDS).keepAliveWithoutCalls(true)
                    .build();
            channels.put(address, c);
        }
        return c;
    }

    public synchronized void drop(String address) {
        ManagedChannel c = channels.remove(address);
        if (c != null) c.shutdownNow();
    }

    @Override
    public synchronized void close() {
        for (ManagedChannel c : channels.values()) c.shutdownNow();
        channels.clear();
    }
}
