package io.strata.engine.text.jinja;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Twelve more real chat templates (Phi-3.5, Gemma 2, DeepSeek-R1 distill, Hermes 3 tool use, Qwen3, Qwen3-Coder,
 * Mistral Nemo, gpt-oss, functionary, Granite 3.3, SmolLM3, Hunyuan), with tools, tool calls and tool results, against
 * Jinja2's renderings (the "more" cases of chat/expected.json). They use macros, {@code str.format}, markup,
 * {@code strftime_now}, {@code tojson} options and deep namespaces.
 */
class MoreTemplatesTest {
    /** The instant make_chat_fixtures.py renders at. */
    static final Clock FIXTURE_CLOCK = Clock.fixed(Instant.parse("2026-11-21T10:30:00Z"), ZoneOffset.UTC);

    @TestFactory
    List<DynamicTest> moreRealTemplates() {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : JinjaFixtures.expected().get("more")) {
            String file = c.get("template").asText();
            tests.add(DynamicTest.dynamicTest(file + ": " + c.get("name").asText(), () -> {
                Template t = Template.parse(resource(file));
                @SuppressWarnings("unchecked")
                Map<String, Object> vars = (Map<String, Object>) JinjaFixtures.java(c.get("vars"));
                if (c.has("output")) {
                    assertEquals(c.get("output").asText(), t.render(vars, FIXTURE_CLOCK));
                } else {
                    TemplateException e = assertThrows(TemplateException.class, () -> t.render(vars, FIXTURE_CLOCK));
                    assertTrue(e.raisedByTemplate(), e.getMessage());
                    assertTrue(e.getMessage().startsWith(c.get("message").asText()), e.getMessage());
                }
            }));
        }
        assertTrue(tests.size() >= 72, "cases " + tests.size());
        return tests;
    }

    static String resource(String name) {
        try (InputStream in = MoreTemplatesTest.class.getResourceAsStream("/io/strata/engine/text/chat/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
