package io.strata.ops;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CLI contracts of DESIGN.md, run in-process against llama.cpp's recorded outputs. */
class CliTest {

    record Run(int code, String out, String err) {}

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            var cl = Main.commandLine();
            cl.setErr(new java.io.PrintWriter(System.err, true));
            int code = cl.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static JsonNode json(String s) throws Exception {
        return Json.mapper().readTree(s);
    }

    @ParameterizedTest
    @CsvSource({"kq,Q8_0", "kq,Q4_K_M", "tiny-spm,Q8_0", "small,Q4_0"})
    void greedyGenerateReproducesLlamaCpp(String model, String type) throws Exception {
        JsonNode entry = Fixtures.index().get("models").get(model).get("files").get(type);
        JsonNode gen = entry.get("generate");
        int[] want = Fixtures.ints(gen.get("generated_ids"));
        float[] margins = Fixtures.floats(gen.get("top1_minus_top2"));
        String ids = String.join(",", java.util.Arrays.stream(Fixtures.ints(gen.get("prompt_ids"))).mapToObj(String::valueOf).toList());
        Run r = run("generate", "-m", Fixtures.path(entry.get("file").asText()).toString(), "--ids", ids,
                "-n", String.valueOf(want.length), "--temperature", "0", "--ignore-eos", "--json");
        assertEquals(0, r.code(), r.err());
        int[] got = Fixtures.ints(json(r.out()).get("ids"));
        assertEquals(want.length, got.length);
        int compared = 0;
        for (int i = 0; i < want.length && margins[i] > 0.5f; i++, compared++) {
            assertEquals(want[i], got[i], model + "-" + type + " token " + i);
        }
        assertTrue(compared >= 1, "no token with a clear margin to compare");
    }

    @Test
    void aNamedSubcommandIsBuiltAloneAndAnythingElseGetsThemAll() {
        assertEquals(java.util.Set.of("bench"), Main.commandLine("bench").getSubcommands().keySet());
        java.util.Set<String> all = Main.commandLine().getSubcommands().keySet();
        assertEquals(Main.SUBCOMMANDS.size(), all.size(), all.toString());
        assertTrue(all.containsAll(java.util.List.of("help", "local", "worker", "coordinator", "zookeeper", "plan", "bench", "synth")), all.toString());
        assertEquals(all, Main.commandLine("help").getSubcommands().keySet(), "help needs every subcommand");
        assertEquals(all, Main.commandLine("no-such-command").getSubcommands().keySet());
        assertEquals(all, Main.commandLine("--version").getSubcommands().keySet());
        // the usage that `strata` alone prints lists every subcommand
        Run r = run();
        for (String name : all) assertTrue(r.out().contains(name), name + " missing from\n" + r.out());
    }

    @Test
    void logitsWritesEveryPositionLikeLlamaCpp(@TempDir Path dir) throws Exception {
        JsonNode m = Fixtures.index().get("models").get("tiny");
        JsonNode entry = m.get("files").get("F32");
        int[] ids = Fixtures.ints(m.get("logits_ids"));
        Path out = dir.resolve("l.f32");
        Run r = run("logits", "-m", Fixtures.path(entry.get("file").asText()).toString(), "--ids",
                String.join(",", java.util.Arrays.stream(ids).mapToObj(String::valueOf).toList()), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        float[] got = Fixtures.readF32(out);
        float[] want = Fixtures.readF32(Fixtures.path(entry.get("logits").get("file").asText()));
        assertEquals(want.length, got.length);
        for (int i = 0; i < got.length; i++) assertEquals(want[i], got[i], 1e-3, "logit " + i);
        assertEquals(ids.length, json(r.out()).get("n_tokens").asInt());
    }

    @Test
    void tokenizeGivesLlamaCppsIds() throws Exception {
        JsonNode m = Fixtures.index().get("models").get("tiny-spm");
        for (JsonNode t : m.get("tokenize")) {
            var args = new java.util.ArrayList<>(java.util.List.of("tokenize", "-m",
                    Fixtures.path(m.get("files").get("F32").get("file").asText()).toString(), "--text", t.get("text").asText()));
            if (t.get("parse_special").asBoolean()) args.add("--parse-special");
            Run r = run(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            assertArrayEquals(Fixtures.ints(t.get("ids")), Fixtures.ints(json(r.out()).get("ids")), t.get("text").asText());
        }
    }

    @Test
    void badInputFailsWithAClearMessage(@TempDir Path dir) throws Exception {
        Path notGguf = dir.resolve("x.gguf");
        java.nio.file.Files.writeString(notGguf, "hello, not a model");
        Run r = run("logits", "-m", notGguf.toString(), "--ids", "1", "--out", dir.resolve("o").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("not a GGUF file") && r.err().contains("magic"), r.err());
        Run r2 = run("generate", "-m", Fixtures.path("tiny/tiny-F32.gguf").toString(), "--ids", "1,99999", "-n", "1");
        assertEquals(1, r2.code());
        assertTrue(r2.err().contains("99999") && r2.err().contains("vocabulary"), r2.err());
    }
}
