package io.strata.engine.gguf;

import java.nio.file.Path;

/** A GGUF file that cannot be used: names the file, the field and the byte offset where the problem is. */
public final class GgufException extends RuntimeException {
    private final Path file;
    private final String field;
    private final long offset;

    public GgufException(Path file, String field, long offset, String message) {
        this(file, field, offset, message, null);
    }

    public GgufException(Path file, String field, long offset, String message, Throwable cause) {
        super(file + ": " + field + (offset >= 0 ? " at offset " + offset : "") + ": " + message, cause);
        this.file = file;
        this.field = field;
        this.offset = offset;
    }

    public Path file() {
        return file;
    }

    /** The header field or metadata key at fault. */
    public String field() {
        return field;
    }

    /** Byte offset in the file, or -1 when the problem is not at one place. */
    public long offset() {
        return offset;
    }
}
