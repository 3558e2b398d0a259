package io.strata.coordinator.gateway;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.engine.text.ChatMessage;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A parsed {@code POST /v1/chat/completions} or {@code POST /v1/completions} body. Every field is checked here and
 * a bad one is a 400 naming it; fields this server does not know are ignored, as OpenAI's own server does.
 *
 * @param chat             a chat completion (messages) rather than a text completion (prompt)
 * @param messages         the conversation (chat)
 * @param promptText       the prompt string (completions), or null
 * @param promptIds        the prompt as token ids, taken as given with no BOS added (completions), or null
 * @param maxTokens        {@code max_completion_tokens} or {@code max_tokens}; null = up to the context length
 * @param temperature      0..2, default 1
 * @param topP             0..1, default 1
 * @param seed             null = a random seed
 * @param stop             up to 4 stop strings
 * @param logprobs         return log-probabilities of the sampled tokens
 * @param topLogprobs      and this many alternatives per token
 * @param user             end-user id (fairness key of the queue)
 * @param ignoreEos        llama-server's extension: do not stop at end-of-generation tokens (for benchmarks)
 */
public record OpenAiRequest(boolean chat, String model, List<ChatMessage> messages, String promptText, int[] promptIds,
                            Integer maxTokens, float temperature, float topP, Long seed, List<String> stop, boolean stream,
                            boolean includeUsage, boolean logprobs, int topLogprobs, float frequencyPenalty,
                            float presencePenalty, String user, boolean ignoreEos) {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

    /** Parses and checks a request body. */
    public static OpenAiRequest parse(byte[] body, boolean chat) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")";
            throw ApiException.badRequest("We could not parse the JSON body of your request: " + e.getOriginalMessage() + where, null);
        } catch (java.io.IOException e) {
            throw ApiException.badRequest("We could not read the body of your request: " + e.getMessage(), null);
        }
        if (root == null || root.isMissingNode()) throw ApiException.badRequest("The request body is empty; expected a JSON object.", null);
        if (!root.isObject()) throw ApiException.badRequest("The request body must be a JSON object, not " + kind(root) + ".", null);

        String model = string(root, "model", true);
        List<ChatMessage> messages = null;
        String promptText = null;
        int[] promptIds = null;
        if (chat) {
            messages = messages(root);
        } else {
            JsonNode p = root.get("prompt");
            if (p == null || p.isNull()) throw ApiException.badRequest("Missing required parameter: 'prompt'.", "prompt");
            if (p.isArray() && p.size() == 1 && (p.get(0).isTextual() || p.get(0).isArray())) p = p.get(0);
            if (p.isTextual()) {
                promptText = p.asText();
            } else if (p.isArray()) {
                promptIds = new int[p.size()];
                for (int i = 0; i < p.size(); i++) {
                    JsonNode t = p.get(i);
                    if (!t.isIntegralNumber() || !t.canConvertToInt() || t.asInt() < 0) {
                        throw ApiException.badRequest("'prompt' must be a string or an array of token ids; element " + i + " is "
                                + kind(t) + ".", "prompt");
                    }
                    promptIds[i] = t.asInt();
                }
                if (promptIds.length == 0) throw ApiException.badRequest("'prompt' must not be an empty array.", "prompt");
            } else {
                throw ApiException.badRequest("'prompt' must be a string or an array of token ids, not " + kind(p) + ".", "prompt");
            }
        }
        Integer maxTokens = integer(root, "max_completion_tokens", 1, Integer.MAX_VALUE);
        if (maxTokens == null) maxTokens = integer(root, "max_tokens", 1, Integer.MAX_VALUE);
        float temperature = number(root, "temperature", 0, 2, 1);
        float topP = number(root, "top_p", 0, 1, 1);
        Long seed = longInteger(root, "seed");
        List<String> stop = stop(root);
        boolean stream = bool(root, "stream", false);
        boolean includeUsage = false;
        JsonNode so = root.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!stream) throw ApiException.badRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
            if (!so.isObject()) throw ApiException.badRequest("'stream_options' must be an object, not " + kind(so) + ".", "stream_options");
            includeUsage = bool(so, "include_usage", false, "stream_options.include_usage");
        }
        boolean logprobs;
        int topLogprobs;
        if (chat) {
            logprobs = bool(root, "logprobs", false);
            Integer top = integer(root, "top_logprobs", 0, 20);
            if (top != null && top > 0 && !logprobs) {
                throw ApiException.badRequest("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs");
            }
            topLogprobs = top == null ? 0 : top;
        } else {
            Integer lp = integer(root, "logprobs", 0, 5);
            logprobs = lp != null;
            topLogprobs = lp == null ? 0 : lp;
        }
        float frequencyPenalty = number(root, "frequency_penalty", -2, 2, 0);
        float presencePenalty = number(root, "presence_penalty", -2, 2, 0);
        String user = string(root, "user", false);
        boolean ignoreEos = bool(root, "ignore_eos", false);
        Integer n = integer(root, "n", 1, 128);
        if (n != null && n != 1) throw ApiException.badRequest("Only one choice per request is supported: 'n' must be 1, got " + n + ".", "n");
        if (!chat) {
            Integer bestOf = integer(root, "best_of", 1, 20);
            if (bestOf != null && bestOf != 1) throw ApiException.badRequest("'best_of' must be 1 here, got " + bestOf + ".", "best_of");
            if (bool(root, "echo", false)) throw ApiException.badRequest("'echo' is not supported.", "echo");
            JsonNode suffix = root.get("suffix");
            if (suffix != null && !suffix.isNull()) throw ApiException.badRequest("'suffix' is not supported.", "suffix");
        } else {
            for (String f : new String[]{"tools", "functions"}) {
                JsonNode t = root.get(f);
                if (t != null && !t.isNull() && !(t.isArray() && t.isEmpty())) {
                    throw ApiException.badRequest("'" + f + "' (function calling) is not supported.", f);
                }
            }
            JsonNode rf = root.get("response_format");
            if (rf != null && !rf.isNull() && !(rf.isObject() && "text".equals(rf.path("type").asText()))) {
                throw ApiException.badRequest("Only response_format {\"type\": \"text\"} is supported.", "response_format");
            }
        }
        return new OpenAiRequest(chat, model, messages, promptText, promptIds, maxTokens, temperature, topP, seed, stop, stream,
                includeUsage, logprobs, topLogprobs, frequencyPenalty, presencePenalty, user == null ? "" : user, ignoreEos);
    }

    private static List<ChatMessage> messages(JsonNode root) {
        JsonNode ms = root.get("messages");
        if (ms == null || ms.isNull()) throw ApiException.badRequest("Missing required parameter: 'messages'.", "messages");
        if (!ms.isArray()) throw ApiException.badRequest("'messages' must be an array, not " + kind(ms) + ".", "messages");
        if (ms.isEmpty()) throw ApiException.badRequest("'messages' must contain at least one message.", "messages");
        List<ChatMessage> out = new ArrayList<>(ms.size());
        for (int i = 0; i < ms.size(); i++) {
            String at = "messages[" + i + "]";
            JsonNode m = ms.get(i);
            if (!m.isObject()) throw ApiException.badRequest("'" + at + "' must be an object, not " + kind(m) + ".", at);
            JsonNode r = m.get("role");
            if (r == null || !r.isTextual()) throw ApiException.badRequest("Missing required parameter: '" + at + ".role'.", at + ".role");
            if (!ROLES.contains(r.asText())) {
                throw ApiException.badRequest("Invalid value '" + r.asText() + "' for '" + at + ".role': expected one of system, developer, user, assistant, tool.",
                        at + ".role");
            }
            out.add(new ChatMessage(r.asText(), content(m.get("content"), at + ".content", r.asText())));
        }
        return out;
    }

    private static String content(JsonNode c, String at, String role) {
        if (c == null || c.isNull()) {
            if (role.equals("assistant")) return "";
            throw ApiException.badRequest("Missing required parameter: '" + at + "'.", at);
        }
        if (c.isTextual()) return c.asText();
        if (c.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (int j = 0; j < c.size(); j++) {
                JsonNode part = c.get(j);
                String pat = at + "[" + j + "]";
                if (!part.isObject() || !"text".equals(part.path("type").asText())) {
                    throw ApiException.badRequest("Only text content parts are supported: '" + pat + ".type' is "
                            + (part.isObject() ? "'" + part.path("type").asText() + "'" : kind(part)) + ".", pat + ".type");
                }
                JsonNode t = part.get("text");
                if (t == null || !t.isTextual()) throw ApiException.badRequest("'" + pat + ".text' must be a string.", pat + ".text");
                sb.append(t.asText());
            }
            return sb.toString();
        }
        throw ApiException.badRequest("'" + at + "' must be a string or an array of text parts, not " + kind(c) + ".", at);
    }

    private static List<String> stop(JsonNode root) {
        JsonNode s = root.get("stop");
        if (s == null || s.isNull()) return List.of();
        List<String> out = new ArrayList<>();
        if (s.isTextual()) {
            out.add(s.asText());
        } else if (s.isArray()) {
            if (s.size() > 4) throw ApiException.badRequest("'stop' may hold at most 4 sequences, got " + s.size() + ".", "stop");
            for (int i = 0; i < s.size(); i++) {
                if (!s.get(i).isTextual()) throw ApiException.badRequest("'stop[" + i + "]' must be a string, not " + kind(s.get(i)) + ".", "stop");
                out.add(s.get(i).asText());
            }
        } else {
            throw ApiException.badRequest("'stop' must be a string or an array of strings, not " + kind(s) + ".", "stop");
        }
        for (String x : out) if (x.isEmpty()) throw ApiException.badRequest("'stop' sequences must not be empty.", "stop");
        return List.copyOf(out);
    }

    private static String string(JsonNode root, String field, boolean required) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) {
            if (required) throw ApiException.badRequest("Missing required parameter: '" + field + "'.", field);
            return null;
        }
        if (!v.isTextual()) throw ApiException.badRequest("'" + field + "' must be a string, not " + kind(v) + ".", field);
        return v.asText();
    }

    private static boolean bool(JsonNode root, String field, boolean fallback) {
        return bool(root, field, fallback, field);
    }

    private static boolean bool(JsonNode root, String field, boolean fallback, String name) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return fallback;
        if (!v.isBoolean()) throw ApiException.badRequest("'" + name + "' must be a boolean, not " + kind(v) + ".", name);
        return v.asBoolean();
    }

    private static Integer integer(JsonNode root, String field, int min, int max) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isNumber() || !isIntegral(v) || !v.canConvertToLong()) {
            throw ApiException.badRequest("'" + field + "' must be an integer, not " + kind(v) + ".", field);
        }
        long x = v.asLong();
        if (x < min || x > max) {
            throw ApiException.badRequest("'" + field + "' must be " + (max == Integer.MAX_VALUE ? "at least " + min : "between " + min + " and " + max)
                    + ", got " + x + ".", field);
        }
        return (int) x;
    }

    private static Long longInteger(JsonNode root, String field) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return null;
        if (!v.isNumber() || !isIntegral(v) || !v.canConvertToLong()) {
            throw ApiException.badRequest("'" + field + "' must be an integer, not " + kind(v) + ".", field);
        }
        return v.asLong();
    }

    private static float number(JsonNode root, String field, double min, double max, float fallback) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) return fallback;
        if (!v.isNumber()) throw ApiException.badRequest("'" + field + "' must be a number, not " + kind(v) + ".", field);
        double x = v.asDouble();
        if (!(x >= min && x <= max)) {
            throw ApiException.badRequest("'" + field + "' must be between " + fmt(min) + " and " + fmt(max) + ", got " + v.asText() + ".", field);
        }
        return (float) x;
    }

    private static boolean isIntegral(JsonNode v) {
        return v.isIntegralNumber() || (v.isFloatingPointNumber() && v.asDouble() == Math.rint(v.asDouble()));
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }

    private static String kind(JsonNode v) {
        if (v.isTextual()) return "a string";
        if (v.isNumber()) return "a number";
        if (v.isBoolean()) return "a boolean";
        if (v.isArray()) return "an array";
        if (v.isObject()) return "an object";
        if (v.isNull()) return "null";
        return v.getNodeType().toString().toLowerCase();
    }
}
