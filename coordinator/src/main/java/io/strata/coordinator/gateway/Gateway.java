package io.strata.coordinator.gateway;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.strata.coordinator.scheduler.Scheduler;

import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The OpenAI-compatible REST gateway on Netty (HTTP/1.1, keep-alive, Server-Sent Events):
 * <ul>
 *   <li>{@code POST /v1/chat/completions}, {@code POST /v1/completions} (streaming or not), {@code GET /v1/models};</li>
 *   <li>{@code GET /health} (the process is alive), {@code GET /ready} (every stage loaded: 200, else 503);</li>
 *   <li>{@code GET /} the ops dashboard, {@code GET /api/status} its JSON, {@code GET /metrics} Prometheus text.</li>
 * </ul>
 * API keys, when configured, guard {@code /v1/*}; probes, dashboard and metrics stay open (no prompt or output
 * text is ever shown there).
 */
public final class Gateway implements AutoCloseable {
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final ExecutorService blocking;
    private final Channel server;
    private final GatewayConfig config;

    private Gateway(EventLoopGroup boss, EventLoopGroup workers, ExecutorService blocking, Channel server, GatewayConfig config) {
        this.boss = boss;
        this.workers = workers;
        this.blocking = blocking;
        this.server = server;
        this.config = config;
    }

    /** Binds and serves until {@link #close()}. The scheduler and text model stay owned by the caller. */
    public static Gateway start(GatewayConfig config, Scheduler scheduler, TextModel text) throws InterruptedException {
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        ExecutorService blocking = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("gateway-", 0).factory());
        StatusReport status = new StatusReport(config.modelId(), scheduler);
        HttpHandler handler = new HttpHandler(config, scheduler, text, status, blocking);
        try {
            ServerBootstrap b = new ServerBootstrap()
                    .group(boss, workers)
                    .channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_BACKLOG, 256)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new HttpServerCodec(), new Aggregator(config.maxBodyBytes(), status), handler);
                        }
                    });
            Channel server = b.bind(new InetSocketAddress(config.host(), config.port())).sync().channel();
            return new Gateway(boss, workers, blocking, server, config);
        } catch (RuntimeException | InterruptedException e) {
            boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            blocking.shutdownNow();
            throw e;
        }
    }

    /** The bound port (useful with port 0). */
    public int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    public GatewayConfig config() {
        return config;
    }

    @Override
    public void close() {
        server.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        blocking.shutdownNow();
    }

    /** Aggregates a request body up to the limit; a larger one gets an OpenAI-shaped 413 and the connection closes. */
    private static final class Aggregator extends HttpObjectAggregator {
        private final StatusReport status;

        Aggregator(int maxBytes, StatusReport status) {
            super(maxBytes);
            this.status = status;
        }

        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
            status.httpRequests.increment();
            status.httpErrors.increment();
            FullHttpResponse r = Responses.error(ApiException.tooLarge(maxContentLength()));
            Responses.send(ctx.channel(), r, false);
        }
    }
}
