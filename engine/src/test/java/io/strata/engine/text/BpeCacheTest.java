package io.strata.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.Metadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A BPE vocabulary's tables read back from the tokenizer cache give llama.cpp's tokens, and a bad file is rebuilt. */
class BpeCacheTest {
    @TempDir
    Path dir;

    private static Metadata metadata(String vocab) {
        try (GgufFile f = GgufFile.open(VocabFixtures.gguf(vocab))) {
            return f.metadata();
        }
    }

    private static BpeCache.Key key(Metadata md) {
        Tokenizer t = Tokenizer.fromMetadata(md);
        boolean ignoreMerges = PreTokenizer.config(t.preTokenizer()).ignoreMerges();
        return BpeCache.Key.of(md.getStrings("tokenizer.ggml.tokens"), md.getStrings("tokenizer.ggml.merges"), ignoreMerges);
    }

    private List<Path> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama1b-vocab", "qwen2-vocab", "gpt2-vocab", "default-vocab"})
    void storedTablesGiveLlamaCppsTokens(String vocab) throws IOException {
        Metadata md = metadata(vocab);
        Tokenizer built = Tokenizer.fromMetadata(md, dir);
        assertEquals(Tokenizer.Kind.BPE, built.kind());
        List<Path> stored = files();
        assertEquals(1, stored.size(), "one file per vocabulary: " + stored);
        assertEquals(key(md).fileName(), stored.getFirst().getFileName().toString());
        assertNotNull(new BpeCache(dir).load(key(md)), "the stored file reads back");

        Tokenizer read = Tokenizer.fromMetadata(md, dir);
        JsonNode cases = VocabFixtures.tokenizeJson().get("vocabs").get(vocab);
        List<String> failures = TokenizerParityTest.oracleFailures(read, cases);
        assertTrue(failures.isEmpty(), failures.size() + " failures, first: " + failures.subList(0, Math.min(5, failures.size())));
        assertEquals(1, files().size());
    }

    @Test
    void differentVocabulariesGetDifferentFiles() throws IOException {
        Tokenizer.fromMetadata(metadata("qwen2-vocab"), dir);
        Tokenizer.fromMetadata(metadata("gpt2-vocab"), dir);
        assertEquals(2, files().size());
        assertTrue(!key(metadata("qwen2-vocab")).equals(key(metadata("gpt2-vocab"))));
    }

    @Test
    void sentencePieceStoresNothing() throws IOException {
        Tokenizer.fromMetadata(metadata("spm-vocab"), dir);
        assertTrue(!Files.exists(dir) || files().isEmpty());
    }

    @ParameterizedTest
    @ValueSource(strings = {"flip", "truncate", "extend", "header", "empty"})
    void aDamagedFileIsIgnoredAndWrittenAgain(String damage) throws IOException {
        Metadata md = metadata("gpt2-vocab");
        Tokenizer reference = Tokenizer.fromMetadata(md);
        Tokenizer.fromMetadata(md, dir);
        Path f = files().getFirst();
        byte[] good = Files.readAllBytes(f);
        byte[] bad = switch (damage) {
            case "flip" -> {
                byte[] b = good.clone();
                b[b.length / 2] ^= 0x10; // inside the tables: the checksum catches it
                yield b;
            }
            case "truncate" -> java.util.Arrays.copyOf(good, good.length - 100);
            case "extend" -> java.util.Arrays.copyOf(good, good.length + 8);
            case "header" -> {
                byte[] b = good.clone();
                b[8] = 99; // format version
                yield b;
            }
            default -> new byte[0];
        };
        Files.write(f, bad);
        Files.setLastModifiedTime(f, FileTime.fromMillis(0));
        assertNull(new BpeCache(dir).load(key(md)), damage);

        Tokenizer rebuilt = Tokenizer.fromMetadata(md, dir);
        String text = "Hello world! It's 2026, naïve café — 日本語 🦙 <|endoftext|>";
        assertArrayEquals(reference.encode(text, true, true), rebuilt.encode(text, true, true));
        assertArrayEquals(good, Files.readAllBytes(f), "written again, as before");
        assertNotNull(new BpeCache(dir).load(key(md)));
    }

    @Test
    void aCacheThatCannotBeWrittenOnlyWarns() throws IOException {
        Path notADir = Files.writeString(dir.resolve("file"), "x");
        Metadata md = metadata("gpt2-vocab");
        Tokenizer t = Tokenizer.fromMetadata(md, notADir.resolve("cache"));
        String text = "Hello world";
        assertArrayEquals(Tokenizer.fromMetadata(md).encode(text, true, false), t.encode(text, true, false));
    }

    @Test
    void theDirectoryComesFromTheProperty() {
        String before = System.getProperty("strata.tokenizerCache");
        try {
            System.setProperty("strata.tokenizerCache", "off");
            assertNull(BpeCache.fromProperties());
            System.setProperty("strata.tokenizerCache", dir.toString());
            assertEquals(dir, BpeCache.fromProperties().dir());
        } finally {
            if (before == null) System.clearProperty("strata.tokenizerCache");
            else System.setProperty("strata.tokenizerCache", before);
        }
    }
}
