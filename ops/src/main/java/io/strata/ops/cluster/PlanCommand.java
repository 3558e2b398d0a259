package io.strata.ops.cluster;

import io.strata.engine.util.Bytes;
import io.strata.coordinator.placement.ModelProfile;
import io.strata.coordinator.placement.Placement;
import io.strata.coordinator.placement.PlanReport;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.Synth;
import io.strata.engine.tensor.GgmlType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code strata plan --model F --workers 4x192g@800,2x64g@273}: the placement and memory table for a fleet that does
 * not exist yet (no cluster needed). Worker speed is the memory bandwidth in GB/s after {@code @} (decode streams the
 * weights once per token); without it all workers count as equally fast. {@code --like llama-3.1-405b} sizes a fleet
 * from a model's shapes without its file. Exit status 0 when the model fits, 3 when it does not.
 */
@Command(name = "plan", description = "Print the placement and memory table for a fleet, without a cluster.")
public final class PlanCommand implements Callable<Integer> {
    private static final Pattern ENTRY = Pattern.compile("(?:(\\d+)x)?(?:([A-Za-z][\\w.-]*)=)?([0-9.]+[kmgtKMGT]?(?:i?[bB])?)(?:@([0-9.]+))?");

    @Option(names = {"-m", "--model"}, description = "GGUF model file (only its header is read)")
    Path model;

    @Option(names = "--like", description = "a model's shapes instead of a file: ${COMPLETION-CANDIDATES}", completionCandidates = Presets.class)
    String like;

    @Option(names = "--type", defaultValue = "Q4_0", description = "weight type with --like (default: ${DEFAULT-VALUE})")
    String type;

    @Option(names = "--workers", required = true, description = "[COUNTx][NAME=]MEMORY[@GB/s], comma-separated, e.g. 4x192g@800,mini=64g@273")
    String workers;

    @Option(names = "--context", defaultValue = "8192", description = "positions per sequence (default: ${DEFAULT-VALUE})")
    int context;

    @Option(names = "--sequences", defaultValue = "4", description = "sequences served at once (default: ${DEFAULT-VALUE})")
    int sequences;

    @Option(names = "--kv", defaultValue = "f16", description = "KV cache type (default: ${DEFAULT-VALUE})")
    String kv;

    @Option(names = "--batch", defaultValue = "64", description = "rows per forward chunk (default: ${DEFAULT-VALUE})")
    int batch;

    static final class Presets implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return Synth.PRESETS.stream().map(Synth.Preset::name).iterator();
        }
    }

    /** One parsed worker: name, usable memory, bandwidth in bytes per second (0 = unknown). */
    record Spec(String name, long memory, double bandwidth) {
    }

    static List<Spec> parse(String s) {
        List<Spec> out = new ArrayList<>();
        for (String part : s.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) continue;
            Matcher m = ENTRY.matcher(p);
            if (!m.matches()) {
                throw new IllegalArgumentException("--workers: cannot read '" + p + "' (write [COUNTx][NAME=]MEMORY[@GB/s], e.g. 4x192g@800)");
            }
            int count = m.group(1) == null ? 1 : Integer.parseInt(m.group(1));
            long mem = Bytes.parse(m.group(3));
            double bw = m.group(4) == null ? 0 : Double.parseDouble(m.group(4)) * 1e9;
            for (int i = 0; i < count; i++) {
                String name = m.group(2) != null ? (count == 1 ? m.group(2) : m.group(2) + "-" + i) : "w" + out.size();
                out.add(new Spec(name, mem, bw));
            }
        }
        if (out.isEmpty()) throw new IllegalArgumentException("--workers: no workers given");
        return out;
    }

    @Override
    public Integer call() throws Exception {
        if ((model == null) == (like == null)) throw new IllegalArgumentException("give either --model FILE or --like PRESET");
        ModelProfile m;
        if (model != null) {
            try (GgufFile f = GgufFile.open(model)) {
                m = ModelProfile.of(model.getFileName().toString(), f, context, sequences, kv, batch);
            }
        } else {
            GgmlType t;
            try {
                t = GgmlType.valueOf(type.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--type: unknown type '" + type + "'");
            }
            m = ModelProfile.ofPreset(Synth.preset(like), t, context, sequences, kv, batch);
        }
        List<Spec> specs = parse(workers);
        List<Placement.Candidate> candidates = new ArrayList<>();
        for (Spec s : specs) {
            // Roofline: every weight type streams at the memory bandwidth; unknown bandwidth counts as 100 GB/s for all.
            double bw = s.bandwidth() > 0 ? s.bandwidth() : 100e9;
            Map<GgmlType, Double> rate = new EnumMap<>(GgmlType.class);
            for (GgmlType g : GgmlType.values()) rate.put(g, bw);
            candidates.add(new Placement.Candidate(s.name(), s.memory(), m.layerSeconds(rate, bw), m.headSeconds(rate, bw)));
        }
        Placement.Result r = Placement.place(m, candidates);
        System.out.print(PlanReport.render(m, r));
        if (specs.stream().allMatch(s -> s.bandwidth() == 0)) {
            System.out.println("(no @GB/s given: times assume 100 GB/s everywhere; only the split is meaningful)");
        }
        return r instanceof Placement.Placed ? 0 : 3;
    }
}
