package io.strata.coordinator.gateway;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;

/** Writing whole HTTP responses (JSON, errors, text) with the keep-alive and length headers right. */
final class Responses {
    private Responses() {
    }

    static FullHttpResponse full(HttpResponseStatus status, String contentType, byte[] body) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        return r;
    }

    static FullHttpResponse json(HttpResponseStatus status, ObjectNode body) {
        return full(status, "application/json", OpenAiJson.bytes(body));
    }

    static FullHttpResponse error(ApiException e) {
        FullHttpResponse r = json(e.status(), OpenAiJson.error(e));
        if (e.retryAfterSeconds() > 0) r.headers().set(HttpHeaderNames.RETRY_AFTER, Long.toString(e.retryAfterSeconds()));
        if (e.status() == HttpResponseStatus.UNAUTHORIZED) r.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer");
        return r;
    }

    /** Writes {@code r}; keeps the connection when the client asked to, closes it otherwise. */
    static void send(Channel ch, FullHttpResponse r, boolean keepAlive) {
        if (keepAlive) {
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            ch.writeAndFlush(r);
        } else {
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ch.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
        }
    }
}
