package io.strata.worker.testing;

import io.strata.engine.cpu.CpuBackend;
import io.strata.worker.Worker;
import io.strata.worker.WorkerConfig;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * A worker process for multi-process tests: {@code --zk H:P --models DIR --id ID [--memory BYTES] [--root R]
 * [--threads N] [--session-ms MS]}. Prints {@code READY <id> <address>} once registered and runs until its stdin
 * closes or it is killed (the parent's end of the pipe closing stops it, so no test leaves workers behind).
 */
public final class WorkerProcessMain {
    private WorkerProcessMain() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) o.put(args[i], args[i + 1]);
        WorkerConfig c = new WorkerConfig(o.get("--zk"), o.getOrDefault("--root", WorkerConfig.DEFAULT_ROOT), "127.0.0.1", "127.0.0.1", 0,
                o.get("--id"), Long.parseLong(o.getOrDefault("--memory", "0")), Path.of(o.get("--models")),
                new CpuBackend(Integer.parseInt(o.getOrDefault("--threads", "1"))),
                Long.parseLong(o.getOrDefault("--bench-bytes", String.valueOf(16L << 20))),
                Integer.parseInt(o.getOrDefault("--session-ms", "4000")));
        Worker w = Worker.start(c);
        System.out.println("READY " + w.id() + " " + w.address());
        System.out.flush();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                while (System.in.read() >= 0) {
                    // the parent holds the pipe open while it wants this worker
                }
            } catch (java.io.IOException e) {
                // parent gone
            }
            w.close();
            System.exit(0);
        });
        w.awaitClosed();
    }
}
