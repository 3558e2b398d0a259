package io.strata.engine.text.jinja;

/**
 * A chat template could not be parsed or rendered: a syntax error, a construct this renderer does not implement, a
 * runtime error (undefined variable, wrong type), or the template's own {@code raise_exception(...)}. The message
 * names the construct and the template line.
 */
public final class TemplateException extends RuntimeException {
    private final int line;
    private final boolean raisedByTemplate;

    TemplateException(String message, int line) {
        this(message, line, false);
    }

    TemplateException(String message, int line, boolean raisedByTemplate) {
        super(line > 0 ? message + " (template line " + line + ")" : message);
        this.line = line;
        this.raisedByTemplate = raisedByTemplate;
    }

    /** The template line (1-based), or 0 when unknown. */
    public int line() {
        return line;
    }

    /** Whether the template itself raised this through {@code raise_exception(message)}. */
    public boolean raisedByTemplate() {
        return raisedByTemplate;
    }
}
