package io.strata.ops.cluster;

import io.strata.engine.testing.Fixtures;
import io.strata.ops.Main;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlanCommandTest {

    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            CommandLine cl = Main.commandLine();
            cl.setErr(new PrintWriter(err));
            int code = cl.execute(args);
            return new Run(code, buf.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void sizesA405bFleetFromTheShapesAlone() {
        Run r = run("plan", "--like", "llama-3.1-405b", "--type", "Q4_0", "--workers", "2x192g@800,2x128g@400", "--context", "8192",
                "--sequences", "4");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("126 layers"), r.out());
        long stages = r.out().lines().filter(l -> l.matches("^[0-3] .*")).count();
        assertEquals(4, stages, r.out());
        assertTrue(r.out().contains("slowest stage"), r.out());
    }

    @Test
    void saysWhyAFleetIsTooSmallAndExitsThree() {
        Run r = run("plan", "--like", "llama-3.1-405b", "--type", "Q4_0", "--workers", "2x64g", "--context", "8192");
        assertEquals(3, r.code(), r.err());
        assertTrue(r.out().contains("does not fit:") && r.out().contains("the 2 workers offer 128 GiB"), r.out());
    }

    @Test
    void readsAModelFilesHeader() {
        Run r = run("plan", "--model", Fixtures.path("small/small-Q4_0.gguf").toString(), "--workers", "a=8m@10,b=8m@30", "--context", "256");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("small-Q4_0.gguf: 4 layers"), r.out());
        // b measures three times a's bandwidth, so it takes more layers.
        assertTrue(r.out().contains(" a ") && r.out().contains(" b "), r.out());
    }

    @Test
    void workerSpecsParse() {
        List<PlanCommand.Spec> s = PlanCommand.parse("2x192g@800, mini=64g");
        assertEquals(3, s.size());
        assertEquals(192L << 30, s.get(0).memory());
        assertEquals(800e9, s.get(1).bandwidth());
        assertEquals("mini", s.get(2).name());
        assertEquals(0, s.get(2).bandwidth());
        assertThrows(IllegalArgumentException.class, () -> PlanCommand.parse("lots"));
    }
}
