package io.strata.engine.text;

import io.strata.engine.gguf.Metadata;
import io.strata.engine.text.jinja.Template;
import io.strata.engine.text.jinja.TemplateException;

import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's chat template ({@code tokenizer.chat_template}, Jinja) turning a conversation into prompt text, rendered
 * as Hugging Face's {@code apply_chat_template} renders it (see {@link Template}); ChatML when the model ships none,
 * as llama.cpp does. {@link #promptIds} then tokenizes it the way llama.cpp's server does.
 *
 * <p>A template using a construct the renderer lacks fails when the template is loaded, or at the latest when
 * rendered, with a {@link TemplateException} naming the construct and the line.
 */
public final class ChatTemplate {
    /** llama.cpp's fallback for models without a template. */
    public static final String CHATML = """
            {%- for message in messages -%}
              {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}
              {{- '<|im_start|>assistant\\n' -}}
            {%- endif -%}
            """;

    private final String source;
    private final Template template;
    private final boolean fallback;
    private final String bosToken;
    private final String eosToken;
    private final boolean addBos;
    private final boolean addEos;
    private final Clock clock;

    private ChatTemplate(String source, Template template, boolean fallback, String bosToken, String eosToken,
                         boolean addBos, boolean addEos, Clock clock) {
        this.source = source;
        this.template = template;
        this.clock = clock;
        this.fallback = fallback;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.addBos = addBos;
        this.addEos = addEos;
    }

    /**
     * The model's template (ChatML if it has none), with {@code bos_token} / {@code eos_token} the texts of the
     * tokenizer's BOS and EOS tokens.
     */
    public static ChatTemplate forModel(Metadata metadata, Tokenizer tokenizer) {
        String src = metadata.getString("tokenizer.chat_template", null);
        String bos = tokenizer.bos() >= 0 ? tokenizer.tokenText(tokenizer.bos()) : "";
        String eos = tokenizer.eos() >= 0 ? tokenizer.tokenText(tokenizer.eos()) : "";
        boolean none = src == null || src.isBlank();
        String source = none ? CHATML : src;
        return new ChatTemplate(source, Template.parse(source), none, bos, eos, tokenizer.addsBos(), tokenizer.addsEos(),
                Clock.systemDefaultZone());
    }

    /** A template from its source, with the given special-token texts (the tokenizer adds no BOS/EOS itself). */
    public static ChatTemplate of(String source, String bosToken, String eosToken) {
        return new ChatTemplate(source, Template.parse(source), false, bosToken, eosToken, false, false,
                Clock.systemDefaultZone());
    }

    /** Whether the model had no template and ChatML is used instead. */
    public boolean isFallback() {
        return fallback;
    }

    public String source() {
        return source;
    }

    /** The prompt text for a conversation, exactly as the template renders it. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /**
     * Renders with extra template variables (e.g. {@code tools}, {@code date_string}); they cannot replace
     * {@code messages}, {@code add_generation_prompt}, {@code bos_token} or {@code eos_token}.
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> extra) {
        List<Map<String, Object>> list = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) list.add(m.toMap());
        return renderMessages(list, addGenerationPrompt, extra);
    }

    /**
     * Renders messages given as maps, for what {@link ChatMessage} does not carry (OpenAI-style {@code tool_calls},
     * {@code tool_call_id}, {@code name}); values are plain Java (String, Boolean, numbers, Map, List).
     */
    public String renderMessages(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt, Map<String, ?> extra) {
        Map<String, Object> vars = new LinkedHashMap<>(extra);
        vars.put("messages", new ArrayList<Object>(messages));
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("bos_token", bosToken);
        vars.put("eos_token", eosToken);
        return template.render(vars, clock);
    }

    /** The same template reading this clock for {@code strftime_now} (templates that print today's date). */
    public ChatTemplate withClock(Clock clock) {
        return new ChatTemplate(source, template, fallback, bosToken, eosToken, addBos, addEos, clock);
    }

    /**
     * The rendered conversation as token ids, as llama.cpp's server does it: the template's leading BOS text (and
     * trailing EOS text) is dropped when the tokenizer adds that token itself, then the text is tokenized with
     * special tokens added and parsed ({@code <|eot_id|>} in the text becomes that token).
     */
    public int[] promptIds(Tokenizer tokenizer, List<ChatMessage> messages, boolean addGenerationPrompt) {
        String text = render(messages, addGenerationPrompt);
        if (addBos && !bosToken.isEmpty() && text.startsWith(bosToken)) text = text.substring(bosToken.length());
        if (addEos && !eosToken.isEmpty() && text.endsWith(eosToken)) text = text.substring(0, text.length() - eosToken.length());
        return tokenizer.encode(text, true, true);
    }
}
