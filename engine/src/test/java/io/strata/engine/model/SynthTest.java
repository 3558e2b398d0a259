package io.strata.engine.model;

import io.strata.engine.cpu.Dequant;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.Metadata;
import io.strata.engine.gguf.TensorInfo;
import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SynthTest {

    @TempDir
    Path dir;

    // ------------------------------------------------------------------ vocabulary

    /** The oracle's vocab.mjs built the tiny fixtures' vocabulary: ours must be the same, token for token. */
    @Test
    void vocabularyOfTheFixturesSizeIsTheOraclesOwn() {
        SynthVocab v = SynthVocab.bpe(320);
        try (GgufFile g = GgufFile.open(Fixtures.path("tiny/tiny-F32.gguf"))) {
            Metadata md = g.metadata();
            assertArrayEquals(md.getStringArray("tokenizer.ggml.tokens"), v.tokens());
            assertArrayEquals(md.getIntArray("tokenizer.ggml.token_type"), v.tokenType());
            assertArrayEquals(md.getStringArray("tokenizer.ggml.merges"), v.merges());
            assertEquals(md.getInt("tokenizer.ggml.bos_token_id"), v.bos());
            assertEquals(md.getInt("tokenizer.ggml.eos_token_id"), v.eos());
            assertEquals(md.getBool("tokenizer.ggml.add_bos_token"), v.addBos());
        }
    }

    /**
     * The 128256-token vocabulary (Llama 3's size) equals the oracle's: SHA-256 of its tokens, "---", merges, "---",
     * token types, BOS and EOS (one per line, types comma-separated), as printed by the oracle's vocab.mjs.
     */
    @Test
    void llama3SizedVocabularyIsTheOraclesOwn() throws NoSuchAlgorithmException {
        SynthVocab v = SynthVocab.bpe(128256);
        assertEquals(128256, v.size());
        assertEquals(128000, v.bos());
        assertEquals("<|begin_of_text|>", v.tokens()[128000]);
        assertEquals("<|reserved_special_token_250|>", v.tokens()[128255]);
        StringBuilder types = new StringBuilder();
        for (int i = 0; i < v.tokenType().length; i++) types.append(i > 0 ? "," : "").append(v.tokenType()[i]);
        String dump = String.join("\n", String.join("\n", v.tokens()), "---", String.join("\n", v.merges()), "---",
                types, Integer.toString(v.bos()), Integer.toString(v.eos()));
        byte[] sha = MessageDigest.getInstance("SHA-256").digest(dump.getBytes(StandardCharsets.UTF_8));
        assertEquals("5a85cb410ec484842ff6045211dab32a5f065cbf0d321d3c3c845f9fd07d86ac", HexFormat.of().formatHex(sha));
    }

    @Test
    void qwen2VocabularyHasChatMLTokensAndNoBos() {
        SynthVocab v = SynthVocab.forPre("qwen2", 320);
        assertEquals("<|endoftext|>", v.tokens()[312]);
        assertEquals("<|im_end|>", v.tokens()[314]);
        assertEquals(SynthVocab.USER_DEFINED, v.tokenType()[315]);
        assertEquals(312, v.bos());
        assertEquals(314, v.eos());
        assertFalse(v.addBos());
        assertArrayEquals(SynthVocab.bpe(320).merges(), v.merges());
        assertThrows(IllegalArgumentException.class, () -> SynthVocab.forPre("gpt-2", 320));
    }

    // ------------------------------------------------------------------ shapes and sizes (pure)

    /** Parameter counts published for the real models (plus the head_dim/2 rope_freqs factors we add). */
    @Test
    void parameterCountsAreThePublishedOnes() {
        assertEquals(405_853_388_800L + 64, Synth.parameters(Synth.preset("llama-3.1-405b")));
        assertEquals(70_553_706_496L + 64, Synth.parameters(Synth.preset("llama-3.1-70b")));
        assertEquals(8_030_261_248L + 64, Synth.parameters(Synth.preset("llama-3.1-8b")));
        assertEquals(1_235_814_400L + 32, Synth.parameters(Synth.preset("llama-3.2-1b")));
    }

    @Test
    void bytesPerLayerAndOutsideTheLayers() {
        Synth.Preset p = Synth.preset("llama-3.1-405b");
        // q and o 16384x16384, k and v 16384x1024, gate/up/down 16384x53248: 3,187,671,040 weights; two F32 norms
        long weights = 2L * 16384 * 16384 + 2L * 16384 * 1024 + 3L * 16384 * 53248;
        assertEquals(weights / 32 * 18 + 2 * 16384 * 4, Synth.layerBytes(p, GgmlType.Q4_0));
        assertEquals(weights / 256 * 144 + 2 * 16384 * 4, Synth.layerBytes(p, GgmlType.Q4_K));
        assertEquals(weights * 2 + 2 * 16384 * 4, Synth.layerBytes(p, GgmlType.BF16));
        // embedding and output 16384x128256 each, rope factors and output norm in F32
        assertEquals(2L * 16384 * 128256 / 32 * 34 + 64 * 4 + 16384 * 4, Synth.nonLayerBytes(p, GgmlType.Q8_0));
        Synth.Preset tied = Synth.preset("llama-3.2-1b");
        assertEquals(2048L * 128256 * 2 + 32 * 4 + 2048 * 4, Synth.nonLayerBytes(tied, GgmlType.F16));
        List<Synth.TensorSpec> t = Synth.tensors(p.withLayers(2), GgmlType.Q6_K);
        assertEquals(2 + 2 * 9 + 2, t.size());
        assertEquals("rope_freqs.weight", t.get(1).name());
        assertArrayEquals(new long[]{16384, 1024}, t.stream().filter(s -> s.name().equals("blk.1.attn_k.weight")).findFirst().orElseThrow().shape());
        assertThrows(IllegalArgumentException.class, () -> Synth.tensors(p, GgmlType.Q8_K));
        assertTrue(Synth.listJson().contains("\"preset\":\"llama-3.1-405b\""));
    }

    /** llama3 rope factors as convert_hf_to_gguf.py computes them (reference values from a numpy float32 run). */
    @Test
    void llama3RopeFactors() {
        float[] f8b = Synth.llama3RopeFactors(new Synth.RopeScaling(8, 1, 4, 8192), 500000, 128);
        assertEquals(64, f8b.length);
        float[] blend = {1.2074838876724243f, 1.5534145832061768f, 2.026313066482544f, 2.6945300102233887f,
                3.684253215789795f, 5.257327079772949f};
        for (int i = 0; i < 64; i++) {
            float want = i < 29 ? 1f : i < 35 ? blend[i - 29] : 8f;
            assertEquals(want, f8b[i], want * 1e-6f, "factor " + i);
        }
        float[] f1b = Synth.llama3RopeFactors(new Synth.RopeScaling(32, 1, 4, 8192), 500000, 64);
        float[] blend1b = {1.6513292789459229f, 3.2922627925872803f, 9.666730880737305f};
        for (int i = 0; i < 32; i++) {
            float want = i < 15 ? 1f : i < 18 ? blend1b[i - 15] : 32f;
            assertEquals(want, f1b[i], want * 1e-6f, "factor " + i);
        }
    }

    // ------------------------------------------------------------------ files

    /** Llama-3.2-1B shapes with one layer and a 1000-token vocabulary: what the engine and llama.cpp read. */
    @Test
    void llama32ShapedFileOpensWithTheExpectedConfig() throws IOException {
        Synth.Preset p = Synth.preset("llama-3.2-1b").withVocab(1000);
        Path f = dir.resolve("1b.gguf");
        Synth.Summary s = Synth.write(p, 1, GgmlType.Q4_0, 7, f, 2);
        assertEquals(Files.size(f), s.bytes());
        assertEquals(Synth.fileBytes(p, 1, GgmlType.Q4_0), s.bytes(), "size predicted without writing");
        try (GgufFile g = GgufFile.open(f)) {
            ModelConfig c = ModelConfig.from(g);
            assertEquals(new ModelConfig("llama", 2048, 1, 32, 8, 64, 8192, 1000, 131072, 1e-5f, 64, 500000f, false, 1f, false, true), c);
            Metadata md = g.metadata();
            assertTrue(md.getString("general.name").startsWith("synthetic random noise (not a trained model): llama-3.2-1b shapes, 1 of 16 layers, Q4_0, seed 7"));
            assertEquals(16, md.getInt("strata.synth.full_block_count"));
            assertEquals("gpt2", md.getString("tokenizer.ggml.model"));
            assertEquals("llama-bpe", md.getString("tokenizer.ggml.pre"));
            assertEquals(1000, md.getStringArray("tokenizer.ggml.tokens").length);
            assertEquals(992, md.getInt("tokenizer.ggml.bos_token_id"));
            assertTrue(md.getBool("tokenizer.ggml.add_bos_token"));
            assertEquals(2, md.getInt("general.file_type"));
            List<Synth.TensorSpec> specs = Synth.tensors(p.withLayers(1), GgmlType.Q4_0);
            assertEquals(specs.size(), g.tensorInfos().size());
            for (Synth.TensorSpec t : specs) {
                TensorInfo info = g.tensorInfos().get(t.name());
                assertEquals(t.type(), info.type(), t.name());
                assertArrayEquals(t.shape(), info.shape(), t.name());
                assertEquals(t.bytes(), info.bytes(), t.name());
            }
            assertNull(g.findTensor("output.weight"), "tied embeddings");
            float[] freqs = floats(g.tensor("rope_freqs.weight"));
            assertArrayEquals(Synth.llama3RopeFactors(new Synth.RopeScaling(32, 1, 4, 8192), 500000, 64), freqs);
        }
    }

    @Test
    void bytesDependOnTheSeedOnlyNotOnThreadsOrChunks() throws IOException {
        Synth.Preset p = Synth.preset("llama-tiny");
        Path a = dir.resolve("a.gguf"), b = dir.resolve("b.gguf"), c = dir.resolve("c.gguf");
        Synth.writer(p, 1, GgmlType.Q4_K, 3, 1).write(a);
        // 1000-byte chunks: many chunks per matrix, a few rows each, split over 3 threads
        Synth.writer(p, 1, GgmlType.Q4_K, 3, 3, 1000).write(b);
        Synth.writer(p, 1, GgmlType.Q4_K, 4, 1).write(c);
        assertEquals(-1L, Files.mismatch(a, b));
        assertNotEquals(-1L, Files.mismatch(a, c));
        assertEquals(Files.size(a), Files.size(c));
    }

    @Test
    void weightsHaveTheDocumentedDistribution() {
        Synth.Preset p = Synth.preset("llama-tiny");
        Path f = dir.resolve("f32.gguf");
        Synth.write(p, 2, GgmlType.F32, 1, f, 2);
        try (GgufFile g = GgufFile.open(f)) {
            checkNormal(floats(g.tensor("token_embd.weight")), 0, 3 / Math.sqrt(256), 0.01);
            checkNormal(floats(g.tensor("output.weight")), 0, 3 / Math.sqrt(256), 0.01);
            checkNormal(floats(g.tensor("blk.1.attn_q.weight")), 0, 1 / Math.sqrt(256), 0.01);
            checkNormal(floats(g.tensor("blk.0.ffn_down.weight")), 0, 1 / Math.sqrt(768), 0.01);
            float[] norm = floats(g.tensor("blk.0.attn_norm.weight"));
            checkNormal(norm, 1, 0.1, 0.15);
            float[] other = floats(g.tensor("blk.1.attn_norm.weight"));
            assertFalse(java.util.Arrays.equals(norm, other), "each tensor has its own stream");
            float[] embd = floats(g.tensor("token_embd.weight"));
            assertFalse(java.util.Arrays.equals(java.util.Arrays.copyOfRange(embd, 0, 256), java.util.Arrays.copyOfRange(embd, 256, 512)),
                    "each row has its own stream");
        }
    }

    /** The quantized file holds the F32 file's weights, rounded to its blocks. */
    @Test
    void quantizedFilesHoldTheSameWeights() {
        Synth.Preset p = Synth.preset("llama-tiny");
        Path f32 = dir.resolve("w-f32.gguf"), q8 = dir.resolve("w-q8.gguf");
        Synth.write(p, 1, GgmlType.F32, 5, f32, 1);
        Synth.write(p, 1, GgmlType.Q8_0, 5, q8, 1);
        try (GgufFile a = GgufFile.open(f32); GgufFile b = GgufFile.open(q8)) {
            for (TensorInfo t : a.tensorInfos().values()) {
                float[] x = floats(a.tensor(t.name()));
                float[] y = floats(b.tensor(t.name()));
                assertEquals(t.shape().length == 2 ? GgmlType.Q8_0 : GgmlType.F32, b.tensorInfos().get(t.name()).type(), t.name());
                for (int blk = 0; blk < x.length; blk += 32) {
                    float amax = 0;
                    for (int i = blk; i < Math.min(x.length, blk + 32); i++) amax = Math.max(amax, Math.abs(x[i]));
                    for (int i = blk; i < Math.min(x.length, blk + 32); i++) {
                        assertEquals(x[i], y[i], amax / 127 * 0.51f + amax * 1e-3f, t.name() + "[" + i + "]");
                    }
                }
            }
        }
    }

    @Test
    void qwen2PresetWritesBiasesAndAQwen2Config() {
        Path f = dir.resolve("qwen2.gguf");
        Synth.write(Synth.preset("qwen2-tiny"), 2, GgmlType.F32, 1, f, 1);
        try (GgufFile g = GgufFile.open(f)) {
            ModelConfig c = ModelConfig.from(g);
            assertEquals(new ModelConfig("qwen2", 64, 2, 4, 2, 16, 64, 320, 2048, 1e-6f, 16, 10000f, true, 1f, true, true), c);
            assertArrayEquals(new long[]{32}, g.tensorInfos().get("blk.1.attn_k.bias").shape());
            checkNormal(floats(g.tensor("blk.0.attn_q.bias")), 0, 1, 0.3);
            assertFalse(g.hasTensor("rope_freqs.weight"));
            assertEquals("qwen2", g.metadata().getString("tokenizer.ggml.pre"));
            assertFalse(g.metadata().getBool("tokenizer.ggml.add_bos_token"));
        }
    }

    /** fixtures/qwen2/qwen2-F32.gguf was written by Synth: writing it again gives the same bytes. */
    @Test
    void theQwen2FixtureIsReproducible() throws IOException {
        Path f = dir.resolve("qwen2-F32.gguf");
        Synth.write(Synth.preset("qwen2-tiny"), 2, GgmlType.F32, 1, f, 2);
        assertEquals(-1L, Files.mismatch(Fixtures.path("qwen2/qwen2-F32.gguf"), f));
    }

    @Test
    void badRequestsAreRefused() {
        Path f = dir.resolve("x.gguf");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Synth.write("llama-3.1-9000b", 1, GgmlType.Q4_0, 1, f));
        assertTrue(e.getMessage().contains("known: llama-3.1-405b"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Synth.write("llama-tiny", 5, GgmlType.Q4_0, 1, f));
        assertTrue(e.getMessage().contains("llama-tiny has 1 to 4 layers"), e.getMessage());
        assertFalse(Files.exists(f));
    }

    // ------------------------------------------------------------------ helpers

    private static float[] floats(Tensor t) {
        float[] out = new float[Math.toIntExact(t.elements())];
        Dequant.dequantizeRow(t.type(), t.data(), 0, out, 0, out.length);
        return out;
    }

    /** Mean within 4 standard errors and standard deviation within {@code relTol}. */
    private static void checkNormal(float[] x, double mean, double std, double relTol) {
        double s = 0, ss = 0;
        for (float v : x) s += v;
        double m = s / x.length;
        for (float v : x) ss += (v - m) * (v - m);
        double sd = Math.sqrt(ss / (x.length - 1));
        assertEquals(mean, m, 4 * std / Math.sqrt(x.length), "mean of " + x.length);
        assertEquals(std, sd, std * relTol, "standard deviation of " + x.length);
    }
}
