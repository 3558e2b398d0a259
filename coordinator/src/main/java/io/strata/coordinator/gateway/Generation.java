package io.strata.coordinator.gateway;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.strata.coordinator.gateway.OpenAiJson.Alternative;
import io.strata.coordinator.gateway.OpenAiJson.TokenInfo;
import io.strata.coordinator.scheduler.PipelineExecutor.SeqOutput;
import io.strata.coordinator.scheduler.PipelineExecutor.TokenLogprob;
import io.strata.coordinator.scheduler.Scheduler;
import io.strata.engine.text.StopMatcher;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One completion request's response: turns the scheduler's tokens into text (never splitting a UTF-8 character,
 * holding back what might start a stop string) and writes it as Server-Sent Events ({@code data:} chunks ending with
 * {@code data: [DONE]}) or, when not streaming, as one JSON body at the end. Callbacks come from the scheduler
 * thread; Netty's writes are thread-safe and keep their order.
 */
final class Generation implements Scheduler.Listener {
    private final Channel ch;
    private final boolean keepAlive;
    private final OpenAiRequest req;
    private final TextModel text;
    private final String model;
    private final Runnable onDone;
    private final String id;
    private final long created = System.currentTimeMillis() / 1000;
    private final TextModel.Decoder decoder;
    private final StopMatcher stop;
    private final StringBuilder content = new StringBuilder();   // all emitted text (non-streaming body; offsets)
    private final List<TokenInfo> pendingLogprobs = new ArrayList<>();
    private final List<TokenInfo> allLogprobs = new ArrayList<>();
    private boolean ended;

    Generation(Channel ch, boolean keepAlive, OpenAiRequest req, TextModel text, String model, Runnable onDone) {
        this.ch = ch;
        this.keepAlive = keepAlive;
        this.req = req;
        this.text = text;
        this.model = model;
        this.onDone = onDone;
        this.stop = new StopMatcher(req.stop());
        this.decoder = text.newDecoder();
        byte[] rnd = new byte[12];
        ThreadLocalRandom.current().nextBytes(rnd);
        this.id = (req.chat() ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(rnd);
    }

    /** Streaming: sends the response head (and, for chat, the first chunk with the assistant role) at once. */
    synchronized void start() {
        if (!req.stream()) return;
        HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        head.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-cache");
        head.headers().set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        head.headers().set(HttpHeaderNames.CONNECTION, keepAlive ? HttpHeaderValues.KEEP_ALIVE : HttpHeaderValues.CLOSE);
        ch.write(head);
        if (req.chat()) {
            event(OpenAiJson.chatChunk(id, created, model, "assistant", "", null, null, req.includeUsage()));
        } else {
            ch.flush();
        }
    }

    @Override
    public synchronized boolean onToken(int token, SeqOutput out) {
        if (req.logprobs()) pendingLogprobs.add(info(text.tokenBytes(token), out));
        String emit = stop.push(decoder.push(token));
        if (!emit.isEmpty()) emit(emit, null);
        return !stop.stopped();
    }

    private TokenInfo info(byte[] bytes, SeqOutput out) {
        List<Alternative> top = new ArrayList<>(out.top().size());
        for (TokenLogprob t : out.top()) {
            byte[] b = text.tokenBytes(t.token());
            top.add(new Alternative(new String(b, StandardCharsets.UTF_8), b, t.logprob()));
        }
        return new TokenInfo(new String(bytes, StandardCharsets.UTF_8), bytes, out.logprob(), top);
    }

    /** Emits text (and the log-probabilities of the tokens it completes); a finish reason ends the choice. */
    private void emit(String s, String finishReason) {
        int offset = content.length();
        content.append(s);
        List<TokenInfo> lp = null;
        if (req.logprobs()) {
            lp = List.copyOf(pendingLogprobs);
            allLogprobs.addAll(pendingLogprobs);
            pendingLogprobs.clear();
        }
        if (!req.stream()) return;
        if (req.chat()) {
            event(OpenAiJson.chatChunk(id, created, model, null, finishReason == null || !s.isEmpty() ? s : null, lp, finishReason,
                    req.includeUsage()));
        } else {
            event(OpenAiJson.completionChunk(id, created, model, s, lp, finishReason, req.includeUsage(), offset));
        }
    }

    @Override
    public synchronized void onFinish(Scheduler.FinishReason reason, int promptTokens, int completionTokens) {
        if (ended) return;
        ended = true;
        if (reason == Scheduler.FinishReason.CANCELLED) {
            // the client went away (or the server is stopping): nothing more to say
            ch.close();
            onDone.run();
            return;
        }
        String tail = stop.stopped() ? "" : stop.push(decoder.finish());
        if (!stop.stopped()) tail += stop.flush();
        String finish = reason == Scheduler.FinishReason.LENGTH && !stop.stopped() ? "length" : "stop";
        if (req.stream()) {
            emit(tail, finish);
            if (req.includeUsage()) event(OpenAiJson.usageChunk(id, created, model, req.chat(), promptTokens, completionTokens));
            endStream();
        } else {
            if (!tail.isEmpty() || !pendingLogprobs.isEmpty()) emit(tail, null);
            ObjectNode body = req.chat()
                    ? OpenAiJson.chatCompletion(id, created, model, content.toString(), finish, req.logprobs() ? allLogprobs : null,
                    promptTokens, completionTokens)
                    : OpenAiJson.completion(id, created, model, content.toString(), finish, req.logprobs() ? allLogprobs : null,
                    promptTokens, completionTokens);
            Responses.send(ch, Responses.json(HttpResponseStatus.OK, body), keepAlive);
        }
        onDone.run();
    }

    @Override
    public synchronized void onError(String message) {
        if (ended) return;
        ended = true;
        ApiException e = ApiException.internal("Generation failed: " + message);
        if (req.stream()) {
            event(OpenAiJson.error(e));
            endStream();
        } else {
            Responses.send(ch, Responses.error(e), keepAlive);
        }
        onDone.run();
    }

    private void event(ObjectNode json) {
        byte[] body = OpenAiJson.bytes(json);
        byte[] frame = new byte[body.length + 8];
        System.arraycopy("data: ".getBytes(StandardCharsets.US_ASCII), 0, frame, 0, 6);
        System.arraycopy(body, 0, frame, 6, body.length);
        frame[frame.length - 2] = '\n';
        frame[frame.length - 1] = '\n';
        ch.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(frame)));
    }

    private void endStream() {
        ch.write(new DefaultHttpContent(Unpooled.copiedBuffer("data: [DONE]\n\n", StandardCharsets.US_ASCII)));
        var f = ch.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        if (!keepAlive) f.addListener(ChannelFutureListener.CLOSE);
    }
}
