package io.strata.engine.text;

import io.strata.engine.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every code point's class against a dump of llama.cpp's own Unicode tables. */
class CodePointsTest {

    @Test
    void everyCodePointMatchesLlamaCpp() throws IOException {
        List<int[]> runs = new ArrayList<>();
        for (String line : Files.readAllLines(Fixtures.path("vocab/llama-cpp-unicode-flags.txt"))) {
            if (line.startsWith("#") || line.isBlank()) continue;
            String[] p = line.trim().split(" ");
            runs.add(new int[] {Integer.parseInt(p[0], 16), Integer.parseInt(p[1], 16)});
        }
        assertTrue(runs.size() > 2000, "runs " + runs.size());
        List<String> wrong = new ArrayList<>();
        for (int r = 0; r < runs.size(); r++) {
            int end = r + 1 < runs.size() ? runs.get(r + 1)[0] : Character.MAX_CODE_POINT + 1;
            int expected = runs.get(r)[1];
            for (int cp = runs.get(r)[0]; cp < end; cp++) {
                int got = CodePoints.flags(cp);
                if (got != expected && wrong.size() < 20) wrong.add(String.format("U+%04X llama.cpp %X here %X", cp, expected, got));
            }
        }
        assertEquals(List.of(), wrong, "a JDK with another Unicode version? see CodePoints");
    }

    @Test
    void outOfRangeIsUndefined() {
        assertEquals(CodePoints.UNDEFINED, CodePoints.flags(0x110000));
        assertEquals(CodePoints.UNDEFINED, CodePoints.flags(-1));
    }
}
