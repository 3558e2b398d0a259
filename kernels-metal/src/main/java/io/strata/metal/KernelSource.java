package io.strata.metal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code .metal} sources of Strata's kernels, read from the classpath ({@code io/strata/metal/}). The Metal
 * device compiles their concatenation ({@link #libraryText()}) with {@code newLibraryWithSource}; the Linux
 * tests compile the same files as C++ against the CPU shim.
 */
public final class KernelSource {

    /** Source files in compilation order: {@code common.metal} first (types, argument structs, dequantization). */
    public static final List<String> FILES = List.of(
            "common.metal", "matvec.metal", "matmat.metal", "norm_rope.metal", "attention.metal", "elementwise.metal");

    /** One source file. */
    public record File(String name, String text) {
    }

    private KernelSource() {
    }

    public static List<File> files() {
        List<File> out = new ArrayList<>();
        for (String name : FILES) {
            out.add(new File(name, read(name)));
        }
        return out;
    }

    /** All files as one compilation unit, each after a {@code #line} directive so compiler errors name the file. */
    public static String libraryText() {
        StringBuilder sb = new StringBuilder();
        for (File f : files()) {
            sb.append("#line 1 \"").append(f.name()).append("\"\n").append(f.text());
            if (!f.text().endsWith("\n")) {
                sb.append('\n');
            }
        }
        return sb.toString();
    }

    private static String read(String name) {
        String path = "/io/strata/metal/" + name;
        try (InputStream in = KernelSource.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("kernel source " + path + " is missing from the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("reading kernel source " + path, e);
        }
    }
}
