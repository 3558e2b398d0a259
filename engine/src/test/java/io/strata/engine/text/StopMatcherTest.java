package io.strata.engine.text;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StopMatcherTest {

    @Test
    void stopStringSplitAcrossPiecesIsNeverEmitted() {
        StopMatcher m = new StopMatcher(List.of("\nUser:", "###"));
        StringBuilder out = new StringBuilder();
        for (String piece : new String[] {"Hello", " there", "\n", "Us", "er", ": more"}) out.append(m.push(piece));
        assertTrue(m.stopped());
        assertEquals("\nUser:", m.stopString());
        assertEquals("Hello there", out.toString());
        assertEquals("", m.push("after"));
        assertEquals("", m.flush());
    }

    @Test
    void falseStartIsReleased() {
        StopMatcher m = new StopMatcher(List.of("###"));
        assertEquals("a", m.push("a#"));
        assertEquals("", m.push("#"));
        assertEquals("##b", m.push("b"));
        assertFalse(m.stopped());
        assertEquals("c", m.push("c"));
        assertEquals("", m.push("##"));
        assertEquals("##", m.flush());
        assertNull(m.stopString());
    }

    @Test
    void earliestStopWins() {
        StopMatcher m = new StopMatcher(List.of("bc", "abcd"));
        assertEquals("x", m.push("xabcd"));
        assertEquals("abcd", m.stopString(), "the stop string that starts first");
    }

    @Test
    void neverSplitsASurrogatePair() {
        StopMatcher m = new StopMatcher(List.of("\uDE99stop")); // starts with a low surrogate
        String llama = "🦙"; // \uD83E\uDE99
        String out = m.push("x" + llama.charAt(0));
        assertEquals("x", out, "the high surrogate waits for its partner");
        assertEquals(llama + "!", m.push(llama.substring(1) + "!"));
    }

    @Test
    void emptyStopStringIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> new StopMatcher(List.of("")));
    }

    @Test
    void textStreamStopsAtEndOfTurnTokensAndStopStrings() {
        Tokenizer tok = VocabFixtures.tokenizer("llama1b");
        int eot = tok.tokenId("<|eot_id|>");
        assertTrue(tok.isEndOfGeneration(eot));
        assertTrue(tok.isEndOfGeneration(tok.eos()));
        int[] ids = tok.encode("Hello world! It's a test", false, false);

        TextStream s = new TextStream(tok, List.of());
        StringBuilder out = new StringBuilder();
        for (int id : ids) out.append(s.push(id));
        out.append(s.push(eot));
        assertTrue(s.isDone());
        assertEquals(TextStream.Finish.END_OF_GENERATION, s.finishReason());
        assertEquals("Hello world! It's a test", out.toString());
        assertEquals("", s.push(ids[0]));

        TextStream t = new TextStream(tok, List.of("! It"));
        StringBuilder out2 = new StringBuilder();
        for (int id : ids) {
            out2.append(t.push(id));
            if (t.isDone()) break;
        }
        assertEquals(TextStream.Finish.STOP_STRING, t.finishReason());
        assertEquals("Hello world", out2.toString());

        TextStream u = new TextStream(tok, List.of("zzz"));
        StringBuilder out3 = new StringBuilder();
        for (int id : ids) out3.append(u.push(id));
        out3.append(u.finish());
        assertFalse(u.isDone());
        assertEquals("Hello world! It's a test", out3.toString());
    }
}
