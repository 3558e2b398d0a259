package io.strata.engine.text;

import java.nio.file.Path;

/** A model's tokenizer metadata cannot be used; names the file and the metadata key. */
public final class TokenizerException extends RuntimeException {
    public TokenizerException(Path file, String key, String message) {
        super((file == null ? "" : file + ": ") + key + ": " + message);
    }
}
