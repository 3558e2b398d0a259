package io.strata.engine.text;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Streaming detokenization: text is emitted only in whole characters, and the stream adds up to the whole. */
class StreamDecoderTest {

    /** Every string of the oracle fixture, token by token, with a vocabulary that splits characters into bytes. */
    @Test
    void streamedTextEqualsDecodedTextAndNeverHasStrayReplacements() {
        for (String vocab : new String[] {"llama1b", "tiny", "spm-vocab"}) {
            Tokenizer tok = VocabFixtures.tokenizer(vocab);
            for (var c : VocabFixtures.tokenizeJson().get("vocabs").get(vocab.equals("llama1b") ? "llama1b-vocab"
                    : vocab.equals("tiny") ? "gpt2-vocab" : vocab).get("cases")) {
                String text = c.get("text").asText();
                int[] ids = tok.encode(text, false, false);
                StreamDecoder d = tok.newStreamDecoder(true);
                StringBuilder streamed = new StringBuilder();
                for (int id : ids) {
                    String part = d.push(id);
                    assertFalse(part.contains("\uFFFD") && !text.contains("\uFFFD"), () -> vocab + ": " + text);
                    streamed.append(part);
                }
                streamed.append(d.finish());
                assertEquals(tok.decode(ids, true), streamed.toString(), vocab + ": " + text);
            }
        }
    }

    @Test
    void holdsBackOnlyUnfinishedSequences() {
        byte[] llama = "a🦙".getBytes(StandardCharsets.UTF_8); // 61 F0 9F A6 99
        for (int n = 1; n <= 4; n++) assertEquals(1, StreamDecoder.completePrefix(llama, n), "prefix " + n);
        assertEquals(5, StreamDecoder.completePrefix(llama, 5));
        // impossible sequences are not held back: they will never complete
        assertEquals(2, StreamDecoder.completePrefix(new byte[] {'a', (byte) 0x80}, 2));        // stray continuation
        assertEquals(2, StreamDecoder.completePrefix(new byte[] {'a', (byte) 0xC0}, 2));        // overlong lead
        assertEquals(2, StreamDecoder.completePrefix(new byte[] {'a', (byte) 0xF8}, 2));        // no such lead
        assertEquals(3, StreamDecoder.completePrefix(new byte[] {'a', (byte) 0xE0, (byte) 0x80}, 3)); // overlong
        assertEquals(3, StreamDecoder.completePrefix(new byte[] {'a', (byte) 0xED, (byte) 0xA0}, 3)); // surrogate
        assertEquals(1, StreamDecoder.completePrefix(new byte[] {'a', (byte) 0xED, (byte) 0x9F}, 3)); // valid so far
    }

    @Test
    void byteTokensOfOneCharacterComeOutTogether() {
        Tokenizer tok = VocabFixtures.tokenizer("spm-vocab"); // no piece for 日: three <0xXX> byte tokens
        int[] ids = tok.encode("日", false, false);
        StreamDecoder d = tok.newStreamDecoder(false);
        StringBuilder out = new StringBuilder();
        int emptyPushes = 0;
        for (int id : ids) {
            String s = d.push(id);
            if (s.isEmpty()) emptyPushes++;
            out.append(s);
        }
        assertEquals(" 日", out.toString());
        assertEquals(2, emptyPushes, "the first two bytes of 日 are held back");
        assertEquals("", d.finish());
    }
}
