package io.strata.coordinator.gateway;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.util.List;

/** OpenAI's response shapes: completions, chat completions, their stream chunks, usage, logprobs, errors, models. */
final class OpenAiJson {
    static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private OpenAiJson() {
    }

    /** One sampled token's log-probability and alternatives, with its text and bytes. */
    record TokenInfo(String text, byte[] bytes, float logprob, List<Alternative> top) {}

    record Alternative(String text, byte[] bytes, float logprob) {}

    static ObjectNode object() {
        return F.objectNode();
    }

    static byte[] bytes(ObjectNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize a response", e);
        }
    }

    static String string(ObjectNode node) {
        return new String(bytes(node), StandardCharsets.UTF_8);
    }

    static ObjectNode error(ApiException e) {
        ObjectNode err = F.objectNode();
        err.put("message", e.getMessage());
        err.put("type", e.type());
        if (e.param() == null) err.putNull("param");
        else err.put("param", e.param());
        if (e.code() == null) err.putNull("code");
        else err.put("code", e.code());
        ObjectNode root = F.objectNode();
        root.set("error", err);
        return root;
    }

    static ObjectNode usage(int promptTokens, int completionTokens) {
        ObjectNode u = F.objectNode();
        u.put("prompt_tokens", promptTokens);
        u.put("completion_tokens", completionTokens);
        u.put("total_tokens", promptTokens + completionTokens);
        return u;
    }

    static ObjectNode model(String id, long created) {
        ObjectNode m = F.objectNode();
        m.put("id", id);
        m.put("object", "model");
        m.put("created", created);
        m.put("owned_by", "strata");
        return m;
    }

    static ObjectNode models(String id, long created) {
        ObjectNode root = F.objectNode();
        root.put("object", "list");
        root.putArray("data").add(model(id, created));
        return root;
    }

    private static ObjectNode head(String id, String object, long created, String model) {
        ObjectNode root = F.objectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", model);
        root.put("system_fingerprint", "strata");
        return root;
    }

    /** A full chat completion (non-streaming). */
    static ObjectNode chatCompletion(String id, long created, String model, String content, String finishReason,
                                     List<TokenInfo> logprobs, int promptTokens, int completionTokens) {
        ObjectNode root = head(id, "chat.completion", created, model);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode msg = choice.putObject("message");
        msg.put("role", "assistant");
        msg.put("content", content);
        msg.putNull("refusal");
        if (logprobs == null) choice.putNull("logprobs");
        else choice.set("logprobs", chatLogprobs(logprobs));
        choice.put("finish_reason", finishReason);
        root.set("usage", usage(promptTokens, completionTokens));
        return root;
    }

    /**
     * A chat completion chunk: {@code delta} with the role (first chunk) and/or content, or an empty delta with the
     * finish reason. {@code withUsageField}: OpenAI's streams with {@code include_usage} carry {@code "usage": null}.
     */
    static ObjectNode chatChunk(String id, long created, String model, String role, String content, List<TokenInfo> logprobs,
                                String finishReason, boolean withUsageField) {
        ObjectNode root = head(id, "chat.completion.chunk", created, model);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode delta = choice.putObject("delta");
        if (role != null) delta.put("role", role);
        if (content != null) delta.put("content", content);
        if (logprobs == null) choice.putNull("logprobs");
        else choice.set("logprobs", chatLogprobs(logprobs));
        if (finishReason == null) choice.putNull("finish_reason");
        else choice.put("finish_reason", finishReason);
        if (withUsageField) root.putNull("usage");
        return root;
    }

    /** The last chunk of a stream with {@code include_usage}: no choices, the usage. */
    static ObjectNode usageChunk(String id, long created, String model, boolean chat, int promptTokens, int completionTokens) {
        ObjectNode root = head(id, chat ? "chat.completion.chunk" : "text_completion", created, model);
        root.putArray("choices");
        root.set("usage", usage(promptTokens, completionTokens));
        return root;
    }

    /** A full text completion (non-streaming). */
    static ObjectNode completion(String id, long created, String model, String text, String finishReason, List<TokenInfo> logprobs,
                                 int promptTokens, int completionTokens) {
        ObjectNode root = head(id, "text_completion", created, model);
        root.putArray("choices").add(completionChoice(text, logprobs, finishReason, 0));
        root.set("usage", usage(promptTokens, completionTokens));
        return root;
    }

    /** A text completion stream chunk. {@code textOffset}: characters of text emitted before this chunk. */
    static ObjectNode completionChunk(String id, long created, String model, String text, List<TokenInfo> logprobs,
                                      String finishReason, boolean withUsageField, int textOffset) {
        ObjectNode root = head(id, "text_completion", created, model);
        root.putArray("choices").add(completionChoice(text, logprobs, finishReason, textOffset));
        if (withUsageField) root.putNull("usage");
        return root;
    }

    private static ObjectNode completionChoice(String text, List<TokenInfo> logprobs, String finishReason, int textOffset) {
        ObjectNode choice = F.objectNode();
        choice.put("text", text);
        choice.put("index", 0);
        if (logprobs == null) choice.putNull("logprobs");
        else choice.set("logprobs", completionLogprobs(logprobs, textOffset));
        if (finishReason == null) choice.putNull("finish_reason");
        else choice.put("finish_reason", finishReason);
        return choice;
    }

    private static ObjectNode chatLogprobs(List<TokenInfo> tokens) {
        ObjectNode lp = F.objectNode();
        ArrayNode content = lp.putArray("content");
        for (TokenInfo t : tokens) {
            ObjectNode e = content.addObject();
            e.put("token", t.text());
            e.put("logprob", t.logprob());
            e.set("bytes", byteArray(t.bytes()));
            ArrayNode top = e.putArray("top_logprobs");
            for (Alternative a : t.top()) {
                ObjectNode o = top.addObject();
                o.put("token", a.text());
                o.put("logprob", a.logprob());
                o.set("bytes", byteArray(a.bytes()));
            }
        }
        lp.putNull("refusal");
        return lp;
    }

    private static ObjectNode completionLogprobs(List<TokenInfo> tokens, int textOffset) {
        ObjectNode lp = F.objectNode();
        ArrayNode toks = lp.putArray("tokens");
        ArrayNode lps = lp.putArray("token_logprobs");
        ArrayNode tops = lp.putArray("top_logprobs");
        ArrayNode offsets = lp.putArray("text_offset");
        int offset = textOffset;
        for (TokenInfo t : tokens) {
            toks.add(t.text());
            lps.add(t.logprob());
            ObjectNode top = tops.addObject();
            for (Alternative a : t.top()) top.put(a.text(), a.logprob());
            offsets.add(offset);
            offset += t.text().length();
        }
        return lp;
    }

    private static ArrayNode byteArray(byte[] b) {
        ArrayNode a = F.arrayNode(b.length);
        for (byte x : b) a.add(x & 0xFF);
        return a;
    }
}
