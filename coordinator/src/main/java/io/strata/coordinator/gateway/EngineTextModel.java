package io.strata.coordinator.gateway;

import io.strata.engine.gguf.GgufFile;
import io.strata.engine.text.ChatMessage;
import io.strata.engine.text.ChatTemplate;
import io.strata.engine.text.StreamDecoder;
import io.strata.engine.text.Tokenizer;
import io.strata.engine.text.jinja.TemplateException;

import java.util.List;

/** {@link TextModel} over the engine's tokenizer and chat template ({@code io.strata.engine.text}). */
public final class EngineTextModel implements TextModel {
    private final Tokenizer tokenizer;
    private final ChatTemplate template;

    public EngineTextModel(Tokenizer tokenizer, ChatTemplate template) {
        this.tokenizer = tokenizer;
        this.template = template;
    }

    /** The model's own tokenizer and chat template (ChatML when the file has none, as llama.cpp). */
    public static EngineTextModel of(GgufFile file) {
        Tokenizer t = Tokenizer.fromMetadata(file.metadata());
        return new EngineTextModel(t, ChatTemplate.forModel(file.metadata(), t));
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public ChatTemplate template() {
        return template;
    }

    @Override
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        return tokenizer.encode(text, addSpecial, parseSpecial);
    }

    @Override
    public int[] chatPrompt(List<ChatMessage> messages) {
        try {
            return template.promptIds(tokenizer, messages, true);
        } catch (TemplateException e) {
            throw ApiException.badRequest("The model's chat template refused the conversation: " + e.getMessage(), "messages");
        }
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
