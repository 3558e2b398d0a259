package io.strata.coordinator.gateway;

import io.strata.engine.text.ChatMessage;

import java.util.List;

/**
 * What the gateway needs of the model's text side: the tokenizer, the chat template and the end-of-generation
 * tokens. Backed by the engine's tokenizer and template ({@code io.strata.engine.text}).
 */
public interface TextModel {

    /**
     * Token ids of {@code text}. {@code addSpecial}: add BOS (and EOS) where the model's metadata says so, as
     * llama.cpp's {@code llama_tokenize(add_special)}; {@code parseSpecial}: control-token text such as
     * {@code <|eot_id|>} becomes the control token.
     */
    int[] tokenize(String text, boolean addSpecial, boolean parseSpecial);

    /**
     * The prompt tokens of a conversation: the model's chat template with the assistant's turn opened. A conversation
     * the template refuses is an {@link ApiException} (400) naming {@code messages}.
     */
    int[] chatPrompt(List<ChatMessage> messages);

    /**
     * The bytes {@code token} adds to the output text (UTF-8, possibly an incomplete character; empty for control
     * tokens). Used for log-probabilities, where each token is shown on its own.
     */
    byte[] tokenBytes(int token);

    /** A decoder for one sequence's generated tokens that never splits a UTF-8 character. */
    Decoder newDecoder();

    /** Generated tokens to text, as they arrive. */
    interface Decoder {
        /** Adds a token; returns the text now complete (possibly empty: bytes of an unfinished character wait). */
        String push(int token);

        /** At the end: whatever is held back (an unfinished character becomes U+FFFD). */
        String finish();
    }

    /** Tokens that end generation (EOS, EOT, ...). */
    int[] endOfGeneration();
}
