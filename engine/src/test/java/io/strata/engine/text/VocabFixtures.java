package io.strata.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.engine.testing.Fixtures;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Tokenizers of the fixture vocabularies: the models in {@code fixtures/index.json} (their own GGUF files) and the
 * metadata-only copies in {@code fixtures/vocab/} (see make_vocab_fixtures.mjs there), built once per test run.
 */
final class VocabFixtures {
    private static final Map<String, Tokenizer> CACHE = new HashMap<>();
    private static JsonNode tokenizeJson;

    private VocabFixtures() {
    }

    /** The tokenizer of a model in index.json ("tiny", "llama1b", ...) or of a vocabulary in fixtures/vocab. */
    static synchronized Tokenizer tokenizer(String name) {
        return CACHE.computeIfAbsent(name, n -> Tokenizer.fromGguf(gguf(n)));
    }

    static Path gguf(String model) {
        String name = model.equals("llama1b") ? "llama1b-vocab" : model;
        Path vocab = Fixtures.path("vocab/" + name + ".gguf");
        if (Files.exists(vocab)) return vocab;
        Path gz = Fixtures.path("vocab/" + name + ".gguf.gz");
        if (Files.exists(gz)) return gunzip(gz);
        try (var files = Files.list(Fixtures.path(name))) {
            return files.filter(p -> p.toString().endsWith(".gguf")).sorted().findFirst()
                    .orElseThrow(() -> new IllegalStateException("no GGUF file for " + name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path gunzip(Path gz) {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
            Path tmp = Files.createTempFile("strata-vocab-", ".gguf");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return tmp;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** fixtures/vocab/tokenize.json.gz: llama.cpp's tokenizations with each vocabulary. */
    static synchronized JsonNode tokenizeJson() {
        if (tokenizeJson == null) {
            try (InputStream in = new GZIPInputStream(Files.newInputStream(Fixtures.path("vocab/tokenize.json.gz")))) {
                tokenizeJson = new ObjectMapper().readTree(in);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tokenizeJson;
    }

    static byte[] hex(String s) {
        return HexFormat.of().parseHex(s);
    }
}
