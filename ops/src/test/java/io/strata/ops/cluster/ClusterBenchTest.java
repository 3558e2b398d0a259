package io.strata.ops.cluster;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClusterBenchTest {

    @Test
    void noNamespacesMeansLoopbackWorkers() {
        assertEquals(List.of(), ClusterBench.netnsOption("", 4));
        assertEquals(List.of(), ClusterBench.netnsOption("  ", 4));
    }

    @Test
    void parsesOneNamespaceAndAddressPerWorker() {
        List<String[]> ns = ClusterBench.netnsOption("strata-ns0:10.231.0.11,strata-ns1:10.231.0.12,strata-ns2:10.231.0.13", 2);
        assertEquals(3, ns.size());
        assertArrayEquals(new String[] {"strata-ns0", "10.231.0.11"}, ns.get(0));
        assertArrayEquals(new String[] {"strata-ns2", "10.231.0.13"}, ns.get(2));
    }

    @Test
    void rejectsTooFewNamespaces() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClusterBench.netnsOption("a:10.0.0.1,b:10.0.0.2", 3));
        assertTrue(e.getMessage().contains("names 2 namespaces for 3 workers"), e.getMessage());
    }

    @Test
    void rejectsAnEntryThatIsNotNamespaceColonAddress() {
        for (String bad : List.of("a:10.0.0.1,b", "a:10.0.0.1,:10.0.0.2", "a:10.0.0.1,b:", "a:10.0.0.1,b:c:d")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterBench.netnsOption(bad, 2), bad);
            assertTrue(e.getMessage().contains("is not NAMESPACE:ADDRESS"), e.getMessage());
        }
    }
}
