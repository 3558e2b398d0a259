package io.strata.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.GgufValueType;
import io.strata.engine.gguf.Metadata;
import io.strata.engine.text.jinja.JinjaFixtures;
import io.strata.engine.text.jinja.TemplateException;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real chat templates of Llama 3, Llama 3.1, Llama 3.2, Qwen2.5 and Mistral 7B Instruct v0.3 (and the ChatML
 * fallback), rendered for several conversations, against Jinja2's renderings with Hugging Face's settings
 * ({@code chat/expected.json}, made by {@code chat/make_chat_fixtures.py}).
 */
class ChatTemplateTest {

    static String resource(String name) {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("/io/strata/engine/text/chat/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @TestFactory
    List<DynamicTest> realTemplatesRenderExactlyAsJinja2() {
        List<DynamicTest> tests = new ArrayList<>();
        int count = 0;
        for (JsonNode c : JinjaFixtures.expected().get("chat")) {
            count++;
            String file = c.get("template").asText();
            JsonNode vars = c.get("vars");
            tests.add(DynamicTest.dynamicTest(file + ": " + c.get("name").asText(), () -> {
                String source = file.equals("chatml") ? ChatTemplate.CHATML : resource(file);
                ChatTemplate t = ChatTemplate.of(source, vars.get("bos_token").asText(), vars.get("eos_token").asText());
                List<ChatMessage> messages = new ArrayList<>();
                for (JsonNode m : vars.get("messages")) messages.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
                Map<String, Object> extra = new LinkedHashMap<>();
                extra.put("date_string", vars.get("date_string").asText());
                if (vars.has("tools")) extra.put("tools", JinjaFixtures.java(vars.get("tools")));
                boolean gen = vars.get("add_generation_prompt").asBoolean();
                if (c.has("output")) {
                    assertEquals(c.get("output").asText(), t.render(messages, gen, extra));
                } else {
                    TemplateException e = assertThrows(TemplateException.class, () -> t.render(messages, gen, extra));
                    assertTrue(e.raisedByTemplate(), e.getMessage());
                    assertTrue(e.getMessage().startsWith(c.get("message").asText()), e.getMessage());
                }
            }));
        }
        assertTrue(count >= 60, "chat cases " + count);
        return tests;
    }

    /** A model's metadata plus a chat template (GGUF files from converters carry it as tokenizer.chat_template). */
    private static Metadata withTemplate(String vocab, String template) {
        try (GgufFile f = GgufFile.open(VocabFixtures.gguf(vocab))) {
            Map<String, Metadata.Entry> entries = new LinkedHashMap<>(f.metadata().entries());
            if (template != null) {
                entries.put("tokenizer.chat_template", new Metadata.Entry(GgufValueType.STRING, null, template, 0));
            }
            return new Metadata(f.metadata().file(), entries);
        }
    }

    @Test
    void llama31PromptHasOneBosAndSpecialTokensAsIds() {
        Metadata md = withTemplate("llama1b", resource("llama-3.1-8b-instruct.jinja"));
        Tokenizer tok = Tokenizer.fromMetadata(md);
        ChatTemplate t = ChatTemplate.forModel(md, tok);
        assertFalse(t.isFallback());
        List<ChatMessage> chat = List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hello world!"));
        String text = t.render(chat, true);
        assertTrue(text.startsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>"), text);
        int[] ids = t.promptIds(tok, chat, true);
        // the template's <|begin_of_text|> is dropped because the tokenizer adds BOS itself, as llama.cpp does
        assertArrayEquals(tok.encode(text, false, true), ids);
        assertEquals(tok.bos(), ids[0]);
        assertTrue(ids[1] != tok.bos());
        int headers = 0;
        for (int id : ids) if (id == tok.tokenId("<|start_header_id|>")) headers++;
        assertEquals(3, headers, "system, user, assistant headers are single special tokens");
        assertTrue(tok.isEndOfGeneration(tok.tokenId("<|eot_id|>")));
    }

    @Test
    void qwenPromptParsesChatMlTokens() {
        Metadata md = withTemplate("qwen2-vocab", resource("qwen2.5-7b-instruct.jinja"));
        Tokenizer tok = Tokenizer.fromMetadata(md);
        ChatTemplate t = ChatTemplate.forModel(md, tok);
        int[] ids = t.promptIds(tok, List.of(ChatMessage.user("Hi")), true);
        String text = t.render(List.of(ChatMessage.user("Hi")), true);
        assertArrayEquals(tok.encode(text, true, true), ids);
        int start = tok.tokenId("<|im_start|>");
        int end = tok.tokenId("<|im_end|>");
        assertEquals(start, ids[0], "no BOS: the Qwen2 vocabulary does not add one");
        long ends = java.util.Arrays.stream(ids).filter(id -> id == end).count();
        assertEquals(2, ends);
        assertTrue(tok.isEndOfGeneration(end));
        assertTrue(tok.isEndOfGeneration(tok.tokenId("<|endoftext|>")));
    }

    /** Tool calls and results go through {@code renderMessages}; the date through {@code withClock}. */
    @Test
    void toolMessagesAndClockThroughRenderMessages() {
        int checked = 0;
        for (JsonNode c : JinjaFixtures.expected().get("more")) {
            if (!c.get("name").asText().equals("tool call and result") || !c.has("output")) continue;
            JsonNode vars = c.get("vars");
            ChatTemplate t = ChatTemplate.of(resource(c.get("template").asText()), vars.get("bos_token").asText(),
                    vars.get("eos_token").asText()).withClock(java.time.Clock.fixed(
                    java.time.Instant.parse("2026-11-21T10:30:00Z"), java.time.ZoneOffset.UTC));
            @SuppressWarnings("unchecked")
            List<Map<String, Object>> messages = (List<Map<String, Object>>) JinjaFixtures.java(vars.get("messages"));
            Map<String, Object> extra = new LinkedHashMap<>();
            extra.put("tools", JinjaFixtures.java(vars.get("tools")));
            extra.put("date_string", vars.get("date_string").asText());
            assertEquals(c.get("output").asText(), t.renderMessages(messages, true, extra), c.get("template").asText());
            checked++;
        }
        assertTrue(checked >= 10, "checked " + checked);
    }

    @Test
    void modelWithoutTemplateFallsBackToChatMl() {
        Metadata md = withTemplate("tiny", null);
        Tokenizer tok = Tokenizer.fromMetadata(md);
        ChatTemplate t = ChatTemplate.forModel(md, tok);
        assertTrue(t.isFallback());
        assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", t.render(List.of(ChatMessage.user("Hi")), true));
    }

    @Test
    void templateWithUnsupportedConstructFailsWhenLoaded() {
        Metadata md = withTemplate("tiny", "{% for m in messages %}\n{% include 'other.jinja' %}{% endfor %}");
        Tokenizer tok = Tokenizer.fromMetadata(md);
        TemplateException e = assertThrows(TemplateException.class, () -> ChatTemplate.forModel(md, tok));
        assertEquals("unsupported statement 'include' (template line 2)", e.getMessage());
    }
}
