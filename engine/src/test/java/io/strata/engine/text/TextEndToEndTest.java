package io.strata.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.sample.Sampler;
import io.strata.engine.sample.SamplingParams;
import io.strata.engine.sample.SequenceSampler;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Text in, text out, against llama.cpp: the prompt text tokenizes to llama.cpp's prompt ids, greedy sampling over
 * the engine's logits reproduces llama.cpp's continuation while its recorded margin exceeds 0.5, and the text
 * streamed token by token is the continuation's text.
 */
class TextEndToEndTest {

    @Test
    void greedyContinuationsFromPromptText() {
        int checked = 0;
        try (CpuBackend backend = new CpuBackend(1)) {
            for (Iterator<Map.Entry<String, JsonNode>> it = Fixtures.index().get("models").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> model = it.next();
                JsonNode files = model.getValue().get("files");
                for (Iterator<Map.Entry<String, JsonNode>> ft = files.fields(); ft.hasNext(); ) {
                    Map.Entry<String, JsonNode> f = ft.next();
                    if (!Files.exists(Fixtures.path(f.getValue().get("file").asText()))) continue;
                    check(backend, model.getKey() + "-" + f.getKey(), model.getValue(), f.getValue());
                    checked++;
                    break; // one weight type per model: the tokenizer side is the same for all
                }
            }
        }
        assertTrue(checked >= 3, "models checked: " + checked);
    }

    private static void check(CpuBackend backend, String name, JsonNode model, JsonNode file) {
        JsonNode gen = file.get("generate");
        int[] want = Fixtures.ints(gen.get("generated_ids"));
        float[] margins = Fixtures.floats(gen.get("top1_minus_top2"));
        try (GgufFile gguf = GgufFile.open(Fixtures.path(file.get("file").asText()))) {
            Tokenizer tok = Tokenizer.fromMetadata(gguf.metadata());
            int[] promptIds = Fixtures.ints(gen.get("prompt_ids"));
            int[] encoded = tok.encode(model.get("logits_text").asText());
            assertArrayEquals(promptIds, Arrays.copyOf(encoded, promptIds.length), name + ": prompt ids");

            ModelConfig cfg = ModelConfig.from(gguf);
            Stage stage = Stage.load(gguf, cfg, 0, cfg.layers(), backend, 64);
            float[] logits = new float[cfg.vocab()];
            Sampler sampler = new Sampler(tok.vocabSize());
            SequenceSampler seq = new SequenceSampler(SamplingParams.greedy());
            StreamDecoder stream = tok.newStreamDecoder(true);
            StringBuilder streamed = new StringBuilder();
            int n = 0;
            try (KvCache cache = stage.newCache(promptIds.length + want.length, KvType.F32)) {
                stage.forward(Step.ofSequence(promptIds, 0, cache, false), logits);
                int pos = promptIds.length;
                while (n < want.length && margins[n] > 0.5f) {
                    int next = sampler.sample(logits, 0, seq).token();
                    assertEquals(want[n], next, name + ": token " + n);
                    streamed.append(stream.push(next));
                    n++;
                    stage.forward(Step.ofSequence(new int[] {next}, pos++, cache, false), logits);
                }
            }
            streamed.append(stream.finish());
            int[] matched = Arrays.copyOf(want, n);
            assertEquals(new String(tok.decodeBytes(matched, true), StandardCharsets.UTF_8), streamed.toString(), name);
            // llama.cpp's own text of the whole continuation (llama_detokenize, specials rendered)
            assertEquals(gen.get("generated_text").asText(),
                    new String(tok.detokenize(want, false, true), StandardCharsets.UTF_8), name + ": generated text");
            assertTrue(n > 0, name + ": no token above the margin");
        }
    }
}
