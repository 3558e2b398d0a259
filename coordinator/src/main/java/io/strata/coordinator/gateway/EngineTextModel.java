package io.strata.coordinator.gateway;

import io.strata.engine.text.StreamDecoder;
import io.strata.engine.text.Tokenizer;

import java.util.List;

/** {@link TextModel} over the engine's tokenizer and chat template ({@code io.strata.engine.text}). */
public final class EngineTextModel implements TextModel {
    private final Tokenizer tokenizer;

    public EngineTextModel(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    @Override
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        return tokenizer.encode(text, addSpecial, parseSpecial);
    }

    @Override
    public int[] chatPrompt(List<ChatMessage> messages) {
        throw ApiException.badRequest("Chat completions need the model's chat template, which this server cannot render yet; use /v1/completions.",
                "messages");
    }

    @Override
    public byte[] tokenBytes(int token) {
        return tokenizer.piece(token, false);
    }

    @Override
    public Decoder newDecoder() {
        StreamDecoder d = tokenizer.newStreamDecoder(false);
        return new Decoder() {
            @Override
            public String push(int token) {
                return d.push(token);
            }

            @Override
            public String finish() {
                return d.finish();
            }
        };
    }

    @Override
    public int[] endOfGeneration() {
        return tokenizer.endOfGenerationIds();
    }
}
