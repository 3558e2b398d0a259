package io.strata.coordinator;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class PlanTest {

    private record W(String id, String address, String backend, int threads, int cpus) {
    }

    /** A plan with one stage per worker, in order, and the workers' records. */
    private static int concurrent(W... ws) {
        List<Plan.Stage> stages = new ArrayList<>();
        Map<String, WorkerInfo> infos = new HashMap<>();
        for (int i = 0; i < ws.length; i++) {
            W w = ws[i];
            stages.add(new Plan.Stage(i, w.id(), w.address(), i, i + 1, 1, 1, 0.01));
            if (w.cpus() >= 0) {
                infos.put(w.id(), new WorkerInfo(w.id(), w.address(), w.backend(), 1L << 30, 1L << 30, 1e10, Map.of(), w.threads(),
                        w.cpus(), Map.of()));
            }
        }
        Plan p = new Plan(1, "c", "m.gguf", "fp", null, 256, 4, "f16", "f32", 16, stages, 0.04);
        return p.concurrentStages(infos);
    }

    @Test
    void stagesOnSeparateHostsAllComputeAtOnce() {
        assertEquals(4, concurrent(new W("a", "10.0.0.1:7070", "cpu", 8, 8), new W("b", "10.0.0.2:7070", "cpu", 8, 8),
                new W("c", "10.0.0.3:7070", "metal", 0, 12), new W("d", "10.0.0.4:7070", "metal", 0, 12)));
    }

    @Test
    void stagesSharingAHostShareItsProcessors() {
        // strata local on a 2-processor machine: three one-thread workers, two compute at a time
        assertEquals(2, concurrent(new W("a", "127.0.0.1:4001", "cpu", 1, 2), new W("b", "127.0.0.1:4002", "cpu", 1, 2),
                new W("c", "127.0.0.1:4003", "cpu", 1, 2)));
        // workers using every processor: one at a time
        assertEquals(1, concurrent(new W("a", "127.0.0.1:4001", "cpu", 2, 2), new W("b", "127.0.0.1:4002", "cpu", 2, 2),
                new W("c", "127.0.0.1:4003", "cpu", 2, 2)));
        // a worker with more threads than processors still runs
        assertEquals(1, concurrent(new W("a", "127.0.0.1:4001", "cpu", 4, 2)));
        // enough processors for all
        assertEquals(3, concurrent(new W("a", "h:4001", "cpu", 4, 16), new W("b", "h:4002", "cpu", 4, 16), new W("c", "h:4003", "cpu", 4, 16)));
        // threads 2 + 2 fit in 5 processors, the third worker's 4 do not
        assertEquals(2, concurrent(new W("a", "h:1", "cpu", 4, 5), new W("b", "h:2", "cpu", 2, 5), new W("c", "h:3", "cpu", 2, 5)));
        // IPv6 addresses: the host is the bracketed part
        assertEquals(1, concurrent(new W("a", "[::1]:4001", "cpu", 1, 1), new W("b", "[::1]:4002", "cpu", 1, 1)));
        // GPU workers on one machine share its device
        assertEquals(1, concurrent(new W("a", "mac:1", "metal", 0, 12), new W("b", "mac:2", "metal", 0, 12)));
    }

    @Test
    void hostsAddUp() {
        assertEquals(3, concurrent(new W("a", "box:1", "cpu", 1, 2), new W("b", "box:2", "cpu", 1, 2), new W("c", "box:3", "cpu", 1, 2),
                new W("d", "mac:1", "metal", 0, 12)));
    }

    @Test
    void aStageWhoseProcessorsAreUnknownCountsAsItsOwnHost() {
        // cpus 0: a record from an older worker; -1 here: no record at all (the worker is gone)
        assertEquals(3, concurrent(new W("a", "127.0.0.1:1", "cpu", 1, 0), new W("b", "127.0.0.1:2", "cpu", 1, -1),
                new W("c", "127.0.0.1:3", "cpu", 1, 0)));
        assertEquals(2, concurrent(new W("a", "127.0.0.1:1", "cpu", 1, 1), new W("b", "127.0.0.1:2", "cpu", 1, 1),
                new W("c", "127.0.0.1:3", "cpu", 1, 0)));
    }
}
