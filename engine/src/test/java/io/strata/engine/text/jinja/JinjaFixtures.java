package io.strata.engine.text.jinja;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code chat/expected.json} (Jinja2's renderings, see make_chat_fixtures.py there) and its variables as Java values. */
public final class JinjaFixtures {
    private static JsonNode expected;

    private JinjaFixtures() {
    }

    public static synchronized JsonNode expected() {
        if (expected == null) {
            try (InputStream in = JinjaFixtures.class.getResourceAsStream("/io/strata/engine/text/chat/expected.json")) {
                expected = new ObjectMapper().readTree(in);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return expected;
    }

    /** JSON as the plain Java values a caller passes (Long for integers, Double for floats). */
    public static Object java(JsonNode n) {
        if (n.isObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            n.fields().forEachRemaining(e -> m.put(e.getKey(), java(e.getValue())));
            return m;
        }
        if (n.isArray()) {
            List<Object> l = new ArrayList<>();
            n.forEach(x -> l.add(java(x)));
            return l;
        }
        if (n.isNull()) return null;
        if (n.isBoolean()) return n.asBoolean();
        if (n.isIntegralNumber()) return n.asLong();
        if (n.isNumber()) return n.asDouble();
        return n.asText();
    }
}
