package io.strata.coordinator.gateway;

import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.strata.coordinator.scheduler.PipelineExecutor;
import io.strata.coordinator.scheduler.PipelineExecutor.StageInfo;
import io.strata.coordinator.scheduler.Sampling;
import io.strata.coordinator.scheduler.Scheduler;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Routes HTTP requests: the OpenAI API under {@code /v1}, probes, the dashboard and its status, metrics. Translates
 * between HTTP/JSON and the {@link Scheduler}; every failure becomes an OpenAI-shaped error with the right status.
 *
 * <p>Work that may wait (tokenizing, the chat template, reading the scheduler's state) runs on {@code blocking}
 * (virtual threads), never on the Netty event loop. While a completion is in progress the connection reads no
 * further requests, so pipelined requests are answered in order.
 */
@ChannelHandler.Sharable
final class HttpHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger LOG = Logger.getLogger(HttpHandler.class.getName());

    private final GatewayConfig config;
    private final Scheduler scheduler;
    private final TextModel text;
    private final StatusReport status;
    private final ExecutorService blocking;
    private final long created = System.currentTimeMillis() / 1000;

    HttpHandler(GatewayConfig config, Scheduler scheduler, TextModel text, StatusReport status, ExecutorService blocking) {
        this.config = config;
        this.scheduler = scheduler;
        this.text = text;
        this.status = status;
        this.blocking = blocking;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        status.httpRequests.increment();
        Channel ch = ctx.channel();
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        String path = new QueryStringDecoder(req.uri()).path();
        HttpMethod method = req.method();
        try {
            if (!req.decoderResult().isSuccess()) {
                throw ApiException.badRequest("Malformed HTTP request: " + req.decoderResult().cause(), null);
            }
            if (path.startsWith("/v1/")) authenticate(req);
            switch (path) {
                case "/v1/chat/completions", "/v1/completions" -> {
                    allow(method, HttpMethod.POST, path);
                    byte[] body = ByteBufUtil.getBytes(req.content());
                    String auth = req.headers().get(HttpHeaderNames.AUTHORIZATION, "");
                    ch.config().setAutoRead(false);
                    blocking.execute(() -> complete(ch, keepAlive, body, path.equals("/v1/chat/completions"), auth));
                }
                case "/v1/models" -> {
                    allow(method, HttpMethod.GET, path);
                    send(ch, Responses.json(HttpResponseStatus.OK, OpenAiJson.models(config.modelId(), created)), keepAlive);
                }
                case "/health" -> {
                    allow(method, HttpMethod.GET, path);
                    var o = OpenAiJson.object().put("status", "ok");
                    send(ch, Responses.json(HttpResponseStatus.OK, o), keepAlive);
                }
                case "/ready" -> {
                    allow(method, HttpMethod.GET, path);
                    send(ch, ready(), keepAlive);
                }
                case "/api/status" -> {
                    allow(method, HttpMethod.GET, path);
                    offload(ch, keepAlive, () -> Responses.json(HttpResponseStatus.OK, status.json()));
                }
                case "/metrics" -> {
                    allow(method, HttpMethod.GET, path);
                    offload(ch, keepAlive, () -> Responses.full(HttpResponseStatus.OK, "text/plain; version=0.0.4; charset=utf-8",
                            status.prometheus().getBytes(StandardCharsets.UTF_8)));
                }
                case "/", "/index.html", "/app.js", "/style.css" -> {
                    allow(method, HttpMethod.GET, path);
                    send(ch, asset(path.equals("/") ? "/index.html" : path), keepAlive);
                }
                default -> {
                    if (path.startsWith("/v1/models/")) {
                        allow(method, HttpMethod.GET, path);
                        String id = QueryStringDecoder.decodeComponent(path.substring("/v1/models/".length()));
                        if (!id.equals(config.modelId())) throw ApiException.modelNotFound(id);
                        send(ch, Responses.json(HttpResponseStatus.OK, OpenAiJson.model(id, created)), keepAlive);
                    } else {
                        throw ApiException.notFound("Unknown request URL: " + method + " " + path + ".");
                    }
                }
            }
        } catch (ApiException e) {
            fail(ch, e, keepAlive);
        }
    }

    private void authenticate(FullHttpRequest req) {
        if (config.apiKeys().isEmpty()) return;
        String h = req.headers().get(HttpHeaderNames.AUTHORIZATION);
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw ApiException.unauthorized("You didn't provide an API key. Send it in an Authorization header: 'Authorization: Bearer YOUR_KEY'.");
        }
        String key = h.substring(7).strip();
        boolean ok = false;
        for (String k : config.apiKeys()) {
            ok |= MessageDigest.isEqual(k.getBytes(StandardCharsets.UTF_8), key.getBytes(StandardCharsets.UTF_8));
        }
        if (!ok) throw ApiException.unauthorized("Incorrect API key provided.");
    }

    private static void allow(HttpMethod method, HttpMethod allowed, String path) {
        if (!method.equals(allowed)) {
            throw ApiException.methodNotAllowed("Method " + method + " is not allowed on " + path + "; use " + allowed + ".");
        }
    }

    /** The completion request, on a virtual thread: parse, tokenize, check, queue. */
    private void complete(Channel ch, boolean keepAlive, byte[] body, boolean chat, String auth) {
        Runnable resume = () -> ch.eventLoop().execute(() -> ch.config().setAutoRead(true));
        try {
            OpenAiRequest r = OpenAiRequest.parse(body, chat);
            if (!r.model().equals(config.modelId())) throw ApiException.modelNotFound(r.model());
            PipelineExecutor pipeline = scheduler.pipeline();
            // While the scheduler recovers from a worker's death, requests queue and wait for the new pipeline.
            if (!pipeline.ready() && !scheduler.recovering()) throw ApiException.unavailable("No pipeline is ready: " + notReady(pipeline) + ". Retry later.");
            int[] prompt;
            if (chat) {
                prompt = text.chatPrompt(r.messages());
            } else if (r.promptIds() != null) {
                prompt = r.promptIds();
                for (int i = 0; i < prompt.length; i++) {
                    if (prompt[i] >= pipeline.vocabSize()) {
                        throw ApiException.badRequest("'prompt' token " + i + " is " + prompt[i] + ", outside the vocabulary of "
                                + pipeline.vocabSize() + " tokens.", "prompt");
                    }
                }
            } else {
                prompt = text.tokenize(r.promptText(), true, true);
            }
            if (prompt.length == 0) throw ApiException.badRequest("The prompt is empty after tokenization.", chat ? "messages" : "prompt");
            int context = pipeline.kvLimits().contextLength();
            String what = chat ? "messages" : "prompt";
            String tokensField = r.maxTokens() == null ? null : "max_tokens";
            if (prompt.length >= context) {
                throw ApiException.contextLength("This model's maximum context length is " + context + " tokens. However, your " + what
                        + " resulted in " + prompt.length + " tokens, leaving no room for a completion. Please reduce the length of the "
                        + what + ".", what);
            }
            int maxTokens = r.maxTokens() == null ? context - prompt.length : r.maxTokens();
            if ((long) prompt.length + maxTokens > context) {
                throw ApiException.contextLength("This model's maximum context length is " + context + " tokens. However, you requested "
                        + ((long) prompt.length + maxTokens) + " tokens (" + prompt.length + " in the " + what + ", " + maxTokens
                        + " in the completion). Please reduce the length of the " + what + " or completion.", tokensField);
            }
            Sampling sampling = sampling(r);
            String user = !r.user().isEmpty() ? r.user() : auth;
            Scheduler.Request request = new Scheduler.Request(user, prompt, maxTokens, sampling,
                    r.ignoreEos() ? new int[0] : text.endOfGeneration());
            CloseWatch watch = new CloseWatch(ch);
            Generation g = new Generation(ch, keepAlive, r, text, config.modelId(), () -> {
                watch.done();
                resume.run();
            });
            // the lock keeps the scheduler's first callback behind the response head written by start()
            synchronized (g) {
                try {
                    watch.ticket = scheduler.submit(request, g);
                } catch (Scheduler.Rejected e) {
                    throw e.reason() == Scheduler.Rejected.Reason.QUEUE_FULL
                            ? ApiException.queueFull("The server is at capacity: " + e.getMessage() + ". Retry after " + e.retryAfterSeconds() + " s.",
                            e.retryAfterSeconds())
                            : ApiException.unavailable(e.getMessage());
                } catch (IllegalArgumentException e) {
                    throw ApiException.badRequest(e.getMessage(), what);
                }
                g.start();
            }
            watch.arm();
        } catch (ApiException e) {
            fail(ch, e, keepAlive);
            resume.run();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "completion request failed", e);
            fail(ch, ApiException.internal("The server could not process the request: " + e), keepAlive);
            resume.run();
        }
    }

    /** Cancels the request's sequence when the client closes the connection; unhooks itself when the response is done. */
    private static final class CloseWatch implements ChannelFutureListener {
        private final Channel ch;
        volatile Scheduler.Ticket ticket;
        private boolean armed;
        private boolean finished;

        CloseWatch(Channel ch) {
            this.ch = ch;
        }

        synchronized void arm() {
            if (finished) return;
            armed = true;
            ch.closeFuture().addListener(this);
        }

        synchronized void done() {
            finished = true;
            if (armed) ch.closeFuture().removeListener(this);
        }

        @Override
        public void operationComplete(io.netty.channel.ChannelFuture f) {
            Scheduler.Ticket t = ticket;
            if (t != null) t.cancel();
        }
    }

    private static Sampling sampling(OpenAiRequest r) {
        long seed = r.seed() != null ? r.seed() : ThreadLocalRandom.current().nextLong();
        float temperature = r.topP() == 0f ? 0f : r.temperature();
        float topP = r.topP() == 0f ? 1f : r.topP();
        return new Sampling(temperature, topP, 0, seed, r.frequencyPenalty(), r.presencePenalty(), r.logprobs(), r.topLogprobs());
    }

    private io.netty.handler.codec.http.FullHttpResponse ready() {
        PipelineExecutor p = scheduler.pipeline();
        var root = OpenAiJson.object();
        boolean ready = p.ready();
        root.put("status", ready ? "ready" : "not ready");
        var stages = root.putArray("stages");
        for (StageInfo i : p.stages()) {
            stages.addObject().put("index", i.index()).put("worker", i.worker()).put("first_layer", i.firstLayer())
                    .put("end_layer", i.endLayer()).put("ready", i.ready());
        }
        return Responses.json(ready ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE, root);
    }

    private static String notReady(PipelineExecutor p) {
        StringBuilder b = new StringBuilder();
        for (StageInfo i : p.stages()) {
            if (!i.ready()) {
                if (!b.isEmpty()) b.append(", ");
                b.append("stage ").append(i.index()).append(" (").append(i.worker()).append(", layers [").append(i.firstLayer())
                        .append(", ").append(i.endLayer()).append(")) is not loaded");
            }
        }
        return b.isEmpty() ? "the pipeline is not linked" : b.toString();
    }

    private io.netty.handler.codec.http.FullHttpResponse asset(String name) {
        try (InputStream in = HttpHandler.class.getResourceAsStream("/dashboard" + name)) {
            if (in == null) throw ApiException.notFound("No dashboard asset " + name + ".");
            String type = name.endsWith(".js") ? "text/javascript; charset=utf-8"
                    : name.endsWith(".css") ? "text/css; charset=utf-8" : "text/html; charset=utf-8";
            var r = Responses.full(HttpResponseStatus.OK, type, in.readAllBytes());
            r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-cache");
            return r;
        } catch (IOException e) {
            throw ApiException.internal("Cannot read dashboard asset " + name + ": " + e.getMessage());
        }
    }

    private interface ResponseSupplier {
        io.netty.handler.codec.http.FullHttpResponse get();
    }

    private void offload(Channel ch, boolean keepAlive, ResponseSupplier work) {
        ch.config().setAutoRead(false);
        blocking.execute(() -> {
            try {
                send(ch, work.get(), keepAlive);
            } catch (ApiException e) {
                fail(ch, e, keepAlive);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "status request failed", e);
                fail(ch, ApiException.internal(e.toString()), keepAlive);
            } finally {
                ch.eventLoop().execute(() -> ch.config().setAutoRead(true));
            }
        });
    }

    private void send(Channel ch, io.netty.handler.codec.http.FullHttpResponse r, boolean keepAlive) {
        Responses.send(ch, r, keepAlive);
    }

    private void fail(Channel ch, ApiException e, boolean keepAlive) {
        status.httpErrors.increment();
        Responses.send(ch, Responses.error(e), keepAlive);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof IOException)) LOG.log(Level.WARNING, "HTTP connection failed", cause);
        ctx.close();
    }
}
