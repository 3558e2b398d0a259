package io.strata.ops;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code strata bench} reports the way to the first token, through the repack cache, in this JVM and in fresh ones. */
class BenchCommandTest {

    @Test
    void firstTokenIsReportedColdAndWarm(@TempDir Path dir) throws Exception {
        String model = Fixtures.path("kq/kq-Q4_K_M.gguf").toString();
        String cache = dir.resolve("cache").toString();
        CliTest.Run r = CliTest.run("bench", "-m", model, "--pp", "4", "--tg", "2", "--reps", "1", "--repack-cache", cache,
                "--prompt", "hello world", "--first-token-runs", "1");
        assertEquals(0, r.code(), r.err());
        JsonNode j = CliTest.json(r.out());
        JsonNode st = j.get("startup");
        assertEquals("miss", st.get("repack_cache").asText(), st.toString());
        assertTrue(st.get("weights_interleaved").asInt() > 0, st.toString());
        assertTrue(st.get("prompt_tokens").asInt() > 0, st.toString());
        for (String k : new String[]{"jvm_start_to_main_ms", "gguf_open_ms", "tokenizer_ms", "stage_load_ms", "first_forward_ms"}) {
            assertTrue(st.get(k).asDouble() >= 0, k + " in " + st);
        }
        assertTrue(j.get("first_token_ms_since_jvm_start").asLong() > 0, j.toString());
        JsonNode fresh = j.get("first_token_fresh_jvm");
        assertEquals("[\"miss\"]", fresh.get("cold_repack_cache").toString(), fresh.toString());
        assertEquals("[\"hit\"]", fresh.get("warm_repack_cache").toString(), fresh.toString());
        assertTrue(fresh.get("cold_ms").get("median").asDouble() > 0 && fresh.get("warm_ms").get("median").asDouble() > 0, fresh.toString());

        CliTest.Run again = CliTest.run("bench", "-m", model, "--pp", "0", "--tg", "0", "--reps", "1", "--repack-cache", cache,
                "--prompt", "hello world");
        assertEquals(0, again.code(), again.err());
        JsonNode st2 = CliTest.json(again.out()).get("startup");
        assertEquals("hit", st2.get("repack_cache").asText(), st2.toString());
        assertEquals(st.get("weights_interleaved").asInt(), st2.get("weights_from_cache").asInt(), st2.toString());
        assertEquals(st.get("first_token_id").asInt(), st2.get("first_token_id").asInt(), "the same first token from the cache");

        CliTest.Run off = CliTest.run("bench", "-m", model, "--pp", "0", "--tg", "0", "--reps", "1", "--repack-cache", "off",
                "--prompt", "hello world");
        assertEquals(0, off.code(), off.err());
        JsonNode st3 = CliTest.json(off.out()).get("startup");
        assertEquals("off", st3.get("repack_cache").asText(), st3.toString());
        assertEquals(st.get("first_token_id").asInt(), st3.get("first_token_id").asInt());
    }
}
