package io.strata.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Token ids, pieces and detokenized text against llama.cpp's own, for every fixture vocabulary. */
class TokenizerParityTest {

    /** index.json: the 8 strings of every model, the 128256-token llama1b vocabulary included. */
    @TestFactory
    List<DynamicTest> indexJsonTokenizations() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = Fixtures.index().get("models").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> model = it.next();
            tests.add(DynamicTest.dynamicTest(model.getKey(), () -> {
                Tokenizer tok = VocabFixtures.tokenizer(model.getKey());
                assertEquals(model.getValue().get("n_vocab").asInt(), tok.vocabSize());
                for (JsonNode c : model.getValue().get("tokenize")) {
                    String text = c.get("text").asText();
                    int[] expected = Fixtures.ints(c.get("ids"));
                    int[] ids = tok.encode(text, c.get("add_special").asBoolean(), c.get("parse_special").asBoolean());
                    assertArrayEquals(expected, ids, () -> model.getKey() + ": " + text);
                    assertEquals(c.get("detokenized").asText(),
                            new String(tok.detokenize(ids, false, true), StandardCharsets.UTF_8), text);
                }
            }));
        }
        return tests;
    }

    /** fixtures/vocab/tokenize.json.gz: ~170 strings x 4 flag combinations x 6 vocabularies. */
    @TestFactory
    List<DynamicTest> oracleTokenizations() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = VocabFixtures.tokenizeJson().get("vocabs").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> vocab = it.next();
            tests.add(DynamicTest.dynamicTest(vocab.getKey(), () -> {
                Tokenizer tok = VocabFixtures.tokenizer(vocab.getKey());
                assertEquals(vocab.getValue().get("n_vocab").asInt(), tok.vocabSize());
                List<String> failures = new ArrayList<>();
                int cases = 0;
                for (JsonNode c : vocab.getValue().get("cases")) {
                    cases++;
                    String text = c.get("text").asText();
                    boolean addSpecial = c.get("add_special").asBoolean();
                    boolean parseSpecial = c.get("parse_special").asBoolean();
                    int[] expected = Fixtures.ints(c.get("ids"));
                    int[] ids = tok.encode(text, addSpecial, parseSpecial);
                    String where = "[" + text.replace("\n", "\\n") + "] add_special=" + addSpecial
                            + " parse_special=" + parseSpecial;
                    if (!Arrays.equals(expected, ids)) {
                        failures.add(where + ": expected " + Arrays.toString(expected) + " got " + Arrays.toString(ids));
                        continue;
                    }
                    for (int i = 0; i < ids.length; i++) {
                        byte[] piece = VocabFixtures.hex(c.get("pieces_hex").get(i).asText());
                        if (!Arrays.equals(piece, tok.piece(ids[i], true))) {
                            failures.add(where + ": piece of " + ids[i]);
                        }
                    }
                    byte[] detok = VocabFixtures.hex(c.get("detokenized_hex").asText());
                    if (!Arrays.equals(detok, tok.detokenize(ids, false, true))) failures.add(where + ": detokenized");
                }
                assertTrue(cases > 600, "cases " + cases);
                assertTrue(failures.isEmpty(), failures.size() + " failures, first: " + String.join("\n", failures.subList(0, Math.min(10, failures.size()))));
            }));
        }
        return tests;
    }
}
