package io.strata.ops;

import io.strata.engine.backend.Backend;
import io.strata.engine.cpu.CpuBackend;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** Options shared by the single-process commands: which model, how many threads. */
public final class ModelOptions {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file (first part of a split model)")
    public Path model;

    @Option(names = {"-t", "--threads"}, defaultValue = "1", description = "CPU threads (default: ${DEFAULT-VALUE})")
    public int threads;

    public Backend backend() {
        return new CpuBackend(threads);
    }
}
