package io.strata.engine.text.jinja;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The renderer against real Jinja2 (3.1, with Hugging Face's chat-template settings), one construct per case: the
 * outputs and failures in {@code chat/expected.json} were made by {@code chat/make_chat_fixtures.py}.
 */
class JinjaConformanceTest {

    @TestFactory
    List<DynamicTest> conformance() {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : JinjaFixtures.expected().get("conformance")) {
            String name = c.get("name").asText();
            String source = c.get("template").asText();
            @SuppressWarnings("unchecked")
            Map<String, Object> vars = (Map<String, Object>) JinjaFixtures.java(c.get("vars"));
            tests.add(DynamicTest.dynamicTest(name, () -> {
                if (name.equals("raw unsupported")) { // Jinja2 has raw blocks; chat templates do not use them
                    TemplateException e = assertThrows(TemplateException.class, () -> Template.parse(source));
                    assertTrue(e.getMessage().contains("'raw'"), e.getMessage());
                    return;
                }
                if (c.has("output")) {
                    assertEquals(c.get("output").asText(), Template.parse(source).render(vars), source);
                } else {
                    TemplateException e = assertThrows(TemplateException.class,
                            () -> Template.parse(source).render(vars), () -> "Jinja2 fails: " + c.get("message").asText());
                    if (c.get("error").asText().equals("TemplateError")) { // raise_exception(...)
                        assertTrue(e.raisedByTemplate());
                        assertEquals(c.get("message").asText(), e.getMessage().replaceAll(" \\(template line \\d+\\)$", ""));
                    }
                }
            }));
        }
        return tests;
    }

    @Test
    void unsupportedConstructsAreNamedWithTheirLine() {
        String[][] cases = {
            {"a\n{% include 'x' %}", "unsupported statement 'include' (template line 2)"},
            {"{% if true %}\n{{ 'text' | truncate(5) }}{% endif %}", "unsupported filter 'truncate' (template line 2)"},
            {"\n\n{{ x is frobnicated }}", "unsupported test 'frobnicated' (template line 3)"},
            {"{% filter upper %}x{% endfilter %}", "unsupported statement 'filter' (template line 1)"},
            {"{% for x in xs recursive %}{% endfor %}", "unsupported construct 'for ... recursive' (template line 1)"},
            {"{{ f(*args) }}", "unsupported construct '*args / **kwargs' in a call (template line 1)"},
        };
        for (String[] c : cases) {
            TemplateException e = assertThrows(TemplateException.class, () -> Template.parse(c[0]).render(Map.of()));
            assertEquals(c[1], e.getMessage());
        }
        TemplateException e = assertThrows(TemplateException.class,
                () -> Template.parse("{{ 'x'.zfill(3) }}").render(Map.of()));
        assertEquals("unsupported method 'zfill' on str (template line 1)", e.getMessage());
        e = assertThrows(TemplateException.class, () -> Template.parse("{{ '%s' % 1 }}").render(Map.of()));
        assertEquals("unsupported construct 'string % formatting' (template line 1)", e.getMessage());
    }

    @Test
    void strftimeNowFormatsTodayAsPython() {
        String today = Template.parse("{{ strftime_now('%d %b %Y') }}").render(Map.of());
        java.time.LocalDate d = java.time.LocalDate.now();
        String expected = String.format("%02d %s %d", d.getDayOfMonth(),
                d.getMonth().getDisplayName(java.time.format.TextStyle.SHORT, java.util.Locale.ENGLISH), d.getYear());
        // the test may straddle midnight: accept yesterday's date too
        String yesterday = String.format("%02d %s %d", d.minusDays(1).getDayOfMonth(),
                d.minusDays(1).getMonth().getDisplayName(java.time.format.TextStyle.SHORT, java.util.Locale.ENGLISH), d.minusDays(1).getYear());
        assertTrue(today.equals(expected) || today.equals(yesterday), today);
    }
}
