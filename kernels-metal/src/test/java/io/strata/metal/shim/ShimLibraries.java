package io.strata.metal.shim;

import io.strata.metal.KernelSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The shim libraries the tests use, built once per JVM (and cached on disk by {@link ShimBuild}). */
public final class ShimLibraries {
    private ShimLibraries() {
    }

    private static volatile ShimDevice.Library kernels;
    private static volatile ShimDevice.Library harness;

    /** Strata's kernels ({@link KernelSource#files()}), the same text the Metal device compiles. */
    public static ShimDevice.Library kernels() {
        if (kernels == null) {
            synchronized (ShimLibraries.class) {
                if (kernels == null) {
                    kernels = ShimDevice.Library.load(ShimBuild.build("strata_kernels", kernelSources()));
                }
            }
        }
        return kernels;
    }

    public static List<ShimBuild.Source> kernelSources() {
        List<ShimBuild.Source> sources = new ArrayList<>();
        for (KernelSource.File f : KernelSource.files()) {
            sources.add(new ShimBuild.Source(f.name(), f.text()));
        }
        return sources;
    }

    /** The shim's own test kernels (harness.metal), including planted bugs. */
    public static ShimDevice.Library harness() {
        if (harness == null) {
            synchronized (ShimLibraries.class) {
                if (harness == null) {
                    harness = ShimDevice.Library.load(ShimBuild.build("harness",
                            List.of(new ShimBuild.Source("harness.metal", resource("/io/strata/metal/harness/harness.metal")))));
                }
            }
        }
        return harness;
    }

    static String resource(String path) {
        try (InputStream in = ShimLibraries.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource " + path);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
