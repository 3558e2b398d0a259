package io.strata.metal;

import io.strata.engine.backend.Backend;
import io.strata.metal.objc.MetalDevice;
import io.strata.metal.objc.ObjC;

import java.util.Locale;
import java.util.function.Supplier;

/**
 * Which backend a worker runs: {@code metal} on macOS with Apple silicon, {@code cpu} elsewhere; the
 * {@code --backend cpu|metal} option overrides ({@code auto} is the default).
 */
public final class Backends {
    private Backends() {
    }

    /** {@code auto}, {@code cpu} or {@code metal} resolved for this machine; throws for metal where it cannot run. */
    public static String resolve(String choice) {
        String c = choice == null ? "auto" : choice.toLowerCase(Locale.ROOT);
        return switch (c) {
            case "auto" -> ObjC.isSupportedPlatform() ? "metal" : "cpu";
            case "cpu" -> "cpu";
            case "metal" -> {
                if (!ObjC.isSupportedPlatform()) {
                    throw new IllegalArgumentException("--backend metal needs macOS on Apple silicon; this is "
                            + System.getProperty("os.name") + " " + System.getProperty("os.arch"));
                }
                yield "metal";
            }
            default -> throw new IllegalArgumentException("--backend must be auto, cpu or metal, got '" + choice + "'");
        };
    }

    /** Opens the backend {@link #resolve} picks; {@code cpu} supplies the CPU backend (the engine's). */
    public static Backend open(String choice, Supplier<Backend> cpu) {
        return switch (resolve(choice)) {
            case "metal" -> new MetalBackend(MetalDevice.open(), true);
            default -> cpu.get();
        };
    }
}
