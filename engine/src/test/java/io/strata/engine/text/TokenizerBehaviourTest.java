package io.strata.engine.text;

import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.GgufValueType;
import io.strata.engine.gguf.Metadata;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Model facts read from the metadata, round trips, bad metadata, and use from several threads. */
class TokenizerBehaviourTest {

    @Test
    void specialTokensAndEndOfGenerationAsLlamaCpp() {
        Tokenizer llama = VocabFixtures.tokenizer("llama1b");
        assertEquals(Tokenizer.Kind.BPE, llama.kind());
        assertEquals("llama-bpe", llama.preTokenizer());
        assertEquals(128000, llama.bos());
        assertEquals(128001, llama.eos());
        assertTrue(llama.addsBos());
        assertFalse(llama.addsEos());
        assertEquals(llama.tokenId("<|eot_id|>"), llama.eot());
        // llama.cpp's EOG set: the EOS, <|eot_id|> and <|end_of_text|> by name (here the EOS itself)
        assertArrayEquals(new int[] {llama.eos(), llama.eot()}, llama.endOfGenerationIds());
        assertTrue(llama.isControl(llama.bos()));
        assertFalse(llama.isControl(300));

        Tokenizer qwen = VocabFixtures.tokenizer("qwen2-vocab");
        assertFalse(qwen.addsBos());
        int imEnd = qwen.tokenId("<|im_end|>");
        int endOfText = qwen.tokenId("<|endoftext|>");
        int fimPad = qwen.tokenId("<|fim_pad|>");
        assertArrayEquals(new int[] {endOfText, imEnd, fimPad}, qwen.endOfGenerationIds());
        assertEquals(imEnd, qwen.eot());

        Tokenizer spm = VocabFixtures.tokenizer("spm-vocab");
        assertEquals(Tokenizer.Kind.SPM, spm.kind());
        assertEquals(1, spm.bos());
        assertEquals(2, spm.eos());
        assertEquals(0, spm.unk());
        assertArrayEquals(new int[] {2}, spm.endOfGenerationIds());
        Tokenizer spmEos = VocabFixtures.tokenizer("spm-eos-vocab");
        int[] ids = spmEos.encode("Hi", true, false);
        assertEquals(spmEos.eos(), ids[ids.length - 1]);
    }

    @Test
    void piecesRoundTripBytes() {
        String[] texts = {"Hello world!", "  multiple   spaces\n\n\ttabs", "Ünïcödé 日本語 🦙🦙 عربى", "a\u0301 e\u0308",
            "<|eot_id|> literal", "x".repeat(300), "\u0000 nul and \u007f del"};
        for (String vocab : new String[] {"llama1b", "qwen2-vocab", "gpt2-vocab", "default-vocab"}) {
            Tokenizer tok = VocabFixtures.tokenizer(vocab);
            for (String t : texts) {
                int[] ids = tok.encode(t, false, false);
                assertEquals(t, new String(tok.decodeBytes(ids, false), StandardCharsets.UTF_8), vocab);
                assertArrayEquals(t.getBytes(StandardCharsets.UTF_8), tok.decodeBytes(ids, true), vocab);
            }
        }
        // SentencePiece adds a leading space, which llama_detokenize removes again (when the text starts the ids)
        Tokenizer spm = VocabFixtures.tokenizer("spm-vocab");
        for (String t : texts) {
            int[] ids = spm.encode(t, false, false);
            assertEquals(t, new String(spm.detokenize(ids, false, false), StandardCharsets.UTF_8));
        }
    }

    @Test
    void controlTokensAreHiddenUnlessAsked() {
        Tokenizer tok = VocabFixtures.tokenizer("llama1b");
        int[] ids = tok.encode("<|start_header_id|>user<|end_header_id|>", false, true);
        assertEquals(tok.tokenId("<|start_header_id|>"), ids[0]);
        assertEquals("user", tok.decode(ids, false));
        assertEquals("<|start_header_id|>user<|end_header_id|>", tok.decode(ids, true));
        assertEquals(0, tok.piece(ids[0], false).length);
    }

    private static Metadata edited(String vocab, Map<String, Object> changes) {
        try (GgufFile f = GgufFile.open(VocabFixtures.gguf(vocab))) {
            Map<String, Metadata.Entry> e = new LinkedHashMap<>(f.metadata().entries());
            for (Map.Entry<String, Object> c : changes.entrySet()) {
                if (c.getValue() == null) e.remove(c.getKey());
                else e.put(c.getKey(), new Metadata.Entry(GgufValueType.STRING, null, c.getValue(), 0));
            }
            return new Metadata(f.metadata().file(), e);
        }
    }

    @Test
    void unusableMetadataIsNamed() {
        Map<String, Object> badPre = new LinkedHashMap<>();
        badPre.put("tokenizer.ggml.pre", "tekken");
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizer.fromMetadata(edited("tiny", badPre)));
        assertTrue(e.getMessage().contains("tokenizer.ggml.pre: pre-tokenizer 'tekken' is not supported"), e.getMessage());
        assertTrue(e.getMessage().contains("tiny-"), "names the file: " + e.getMessage());

        Map<String, Object> badModel = new LinkedHashMap<>();
        badModel.put("tokenizer.ggml.model", "bert");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.fromMetadata(edited("tiny", badModel)));
        assertTrue(e.getMessage().contains("tokenizer.ggml.model: tokenizer model 'bert' is not supported"), e.getMessage());

        Map<String, Object> noMerges = new LinkedHashMap<>();
        noMerges.put("tokenizer.ggml.merges", null);
        e = assertThrows(TokenizerException.class, () -> Tokenizer.fromMetadata(edited("tiny", noMerges)));
        assertTrue(e.getMessage().contains("tokenizer.ggml.merges"), e.getMessage());

        Map<String, Object> noPre = new LinkedHashMap<>();
        noPre.put("tokenizer.ggml.pre", null); // llama.cpp falls back to its "default" pre-tokenizer
        Tokenizer fallback = Tokenizer.fromMetadata(edited("default-vocab", noPre));
        assertArrayEquals(VocabFixtures.tokenizer("default-vocab").encode("Numbers 1234567, don't!"),
                fallback.encode("Numbers 1234567, don't!"));

        assertThrows(IllegalArgumentException.class, () -> VocabFixtures.tokenizer("tiny").piece(320, true));
        assertThrows(IllegalArgumentException.class, () -> VocabFixtures.tokenizer("tiny").decode(new int[] {-1}, true));
    }

    @Test
    void concurrentEncodingGivesTheSameIds() throws Exception {
        Tokenizer tok = VocabFixtures.tokenizer("llama1b");
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 40; i++) texts.add("Request " + i + ": the llama's wool is soft 🦙 " + "x".repeat(i * 7));
        List<int[]> expected = new ArrayList<>();
        for (String t : texts) expected.add(tok.encode(t));
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int rep = 0; rep < 8; rep++) {
                results.add(pool.submit(() -> {
                    for (int i = 0; i < texts.size(); i++) if (!Arrays.equals(expected.get(i), tok.encode(texts.get(i)))) return false;
                    return true;
                }));
            }
            for (Future<Boolean> r : results) assertTrue(r.get());
        } finally {
            pool.shutdownNow();
        }
    }
}
