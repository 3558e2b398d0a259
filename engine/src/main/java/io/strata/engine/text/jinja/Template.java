package io.strata.engine.text.jinja;

import java.time.Clock;
import java.util.List;
import java.util.Map;

/**
 * A Jinja2 template, parsed once and rendered many times, with the semantics Hugging Face's
 * {@code apply_chat_template} gives chat templates: {@code trim_blocks} and {@code lstrip_blocks} on, Python value
 * semantics, {@code tojson} as {@code json.dumps(ensure_ascii=False)}, and the globals {@code raise_exception},
 * {@code namespace}, {@code range}, {@code dict} and {@code strftime_now}; {@code break} / {@code continue} work.
 *
 * <p>It implements the subset real chat templates use (see {@link Builtins}); anything else fails with a
 * {@link TemplateException} naming the construct and the line, never with a silently wrong prompt. Immutable and
 * thread-safe once parsed.
 */
public final class Template {
    private final List<Node.Stmt> body;

    private Template(List<Node.Stmt> body) {
        this.body = body;
    }

    /** Parses a template; syntax errors and unsupported statements, filters and tests are reported here. */
    public static Template parse(String source) {
        return new Template(Parser.parse(source));
    }

    /**
     * Renders with these variables. Values are plain Java: String, Boolean, numbers, null, {@code Map<String, ?>} and
     * {@code List<?>} (nested freely).
     */
    public String render(Map<String, ?> variables) {
        return render(variables, Clock.systemDefaultZone());
    }

    /** Renders with {@code strftime_now} reading this clock (for reproducible prompts and tests). */
    public String render(Map<String, ?> variables, Clock clock) {
        @SuppressWarnings("unchecked")
        Map<String, Object> vars = (Map<String, Object>) variables;
        return new Interpreter().render(body, vars, clock);
    }
}
