package io.strata.ops;

import io.strata.engine.model.Synth;
import io.strata.engine.tensor.GgmlType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code strata synth}: a random-weight model with a real model's shapes (optionally only some of its layers), so
 * operators can measure per-layer speed and plan a fleet without downloading the model. Its text is noise.
 */
@Command(name = "synth", description = "Write a random-weight GGUF with a real model's shapes (its text is noise).")
public final class SynthCommand implements Callable<Integer> {
    @Option(names = "--like", description = "preset: ${COMPLETION-CANDIDATES}", completionCandidates = Presets.class)
    String like;

    @Option(names = "--layers", description = "keep only this many layers (default: all)")
    Integer layers;

    @Option(names = "--type", defaultValue = "Q4_0", description = "weight type of the matrices (default: ${DEFAULT-VALUE})")
    String type;

    @Option(names = "--seed", defaultValue = "1", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--out", description = "output GGUF file")
    Path out;

    @Option(names = "--list", description = "list the presets with their full-model sizes and exit")
    boolean list;

    /** Preset names for help and completion. */
    static final class Presets implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return Synth.PRESETS.stream().map(Synth.Preset::name).iterator();
        }
    }

    @Override
    public Integer call() {
        if (list) {
            System.out.println(Synth.listJson());
            return 0;
        }
        if (like == null || out == null) throw new IllegalArgumentException("--like and --out are required (or --list)");
        GgmlType t;
        try {
            t = GgmlType.valueOf(type.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--type: unknown type '" + type + "' (one of " + Synth.TYPES + ")");
        }
        Synth.Preset preset = Synth.preset(like);
        int n = layers == null ? preset.layers() : layers;
        Synth.Summary s = Synth.write(like, n, t, seed, out);
        System.out.println(Json.write(s));
        System.err.println("strata synth: wrote " + out + " — random weights with " + like + "'s shapes; its text is noise");
        return 0;
    }
}
