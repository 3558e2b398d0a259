package io.strata.engine.text;

import java.util.List;

/**
 * Generated ids to streamed text for one sequence: decodes UTF-8 safely ({@link StreamDecoder}), stops at the
 * model's end-of-generation tokens ({@link Tokenizer#isEndOfGeneration}: {@code <|eot_id|>}, {@code <|im_end|>},
 * EOS, ...) and at user stop strings ({@link StopMatcher}). The end-of-generation token and stop strings are not
 * part of the text.
 *
 * <pre>{@code
 * TextStream out = new TextStream(tokenizer, request.stop());
 * while (!out.isDone() && n++ < maxTokens) print(out.push(sampleNext()));
 * print(out.finish());
 * }</pre>
 */
public final class TextStream {
    /** Why the text ended. */
    public enum Finish { END_OF_GENERATION, STOP_STRING }

    private final Tokenizer tokenizer;
    private final StreamDecoder decoder;
    private final StopMatcher stops;
    private Finish finish;

    public TextStream(Tokenizer tokenizer, List<String> stopStrings) {
        this.tokenizer = tokenizer;
        this.decoder = tokenizer.newStreamDecoder(false);
        this.stops = new StopMatcher(stopStrings);
    }

    /** Adds a generated token; returns the text that can be shown now. After the end, returns "". */
    public String push(int id) {
        if (finish != null) return "";
        if (tokenizer.isEndOfGeneration(id)) {
            finish = Finish.END_OF_GENERATION;
            return stops.push(decoder.finish()) + stops.flush();
        }
        String text = stops.push(decoder.push(id));
        if (stops.stopped()) finish = Finish.STOP_STRING;
        return text;
    }

    /** Whether an end-of-generation token or a stop string has been seen; generation should stop. */
    public boolean isDone() {
        return finish != null;
    }

    /** Why the text ended, or null while it goes on (or when it was cut by a length limit). */
    public Finish finishReason() {
        return finish;
    }

    /** The stop string that ended the text, or null. */
    public String stopString() {
        return stops.stopString();
    }

    /** Ends the stream (e.g. at the token limit): returns the text still held back. */
    public String finish() {
        if (finish != null) return "";
        String tail = stops.push(decoder.finish());
        if (stops.stopped()) {
            finish = Finish.STOP_STRING;
            return tail;
        }
        return tail + stops.flush();
    }
}
