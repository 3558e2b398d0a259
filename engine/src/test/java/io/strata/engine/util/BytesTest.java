package io.strata.engine.util;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BytesTest {

    @Test
    void parsesWhatOperatorsWrite() {
        assertEquals(123, Bytes.parse("123"));
        assertEquals(4096, Bytes.parse("4k"));
        assertEquals(512L << 20, Bytes.parse("512m"));
        assertEquals(48L << 30, Bytes.parse("48g"));
        assertEquals(48L << 30, Bytes.parse(" 48G "));
        assertEquals(64L << 30, Bytes.parse("64GiB"));
        assertEquals(64L << 30, Bytes.parse("64gb"));
        assertEquals(3L << 39, Bytes.parse("1.5t"));
        assertEquals(0, Bytes.parse("0"));
    }

    @Test
    void refusesWhatIsNotASizeNamingIt() {
        for (String bad : new String[] {"", "g", "-1g", "lots", "NaNg", "Infinity", "1e30t", "12q"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bytes.parse(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }

    @Test
    void formatsInPowersOf1024() {
        assertEquals("1023 B", Bytes.format(1023));
        assertEquals("1.0 KiB", Bytes.format(1024));
        assertEquals("1.5 KiB", Bytes.format(1536));
        assertEquals("48.0 GiB", Bytes.format(48L << 30));
        assertEquals("230 GiB", Bytes.format(230L << 30));
        assertEquals("8.0 EiB", Bytes.format(Long.MAX_VALUE));
    }
}
