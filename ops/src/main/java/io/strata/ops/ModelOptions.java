package io.strata.ops;

import io.strata.engine.backend.Backend;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.cpu.RepackCache;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** Options shared by the single-process commands: which model, how many threads. */
public final class ModelOptions {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file (first part of a split model)")
    public Path model;

    @Option(names = {"-t", "--threads"}, defaultValue = "1", description = "CPU threads (default: ${DEFAULT-VALUE})")
    public int threads;

    @Option(names = "--repack-cache", paramLabel = "DIR|off", description = "where interleaved weights are stored for the next start"
            + " (default: -Dstrata.cpu.repackCache, else $XDG_CACHE_HOME/strata/repack or ~/.cache/strata/repack; off: none)")
    public String repackCache;

    public Backend backend() {
        return new CpuBackend(threads, RepackCache.of(repackCache != null ? repackCache : System.getProperty("strata.cpu.repackCache")));
    }
}
