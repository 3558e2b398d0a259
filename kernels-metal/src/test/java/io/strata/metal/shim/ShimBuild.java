package io.strata.metal.shim;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds a shared library from {@code .metal} sources for the CPU shim: a small textual pre-pass, one generated
 * launcher per kernel (it passes the bound buffers and the built-in ids in the kernel's parameter order, as
 * Metal's argument table does) and one {@code clang++} run with the shim headers. The library goes to
 * {@code target/shim/<hash of every input>/}, so it is rebuilt only when a source, a shim file or the flags change.
 *
 * <p>The pre-pass only rewrites what C++ cannot parse: {@code [[threadgroup(n)]]} parameter attributes (the
 * shim defines {@code threadgroup} as an address space) and {@code 1.0h} half literals. Everything else
 * compiles as written, so kernels follow the style rules in the module README.
 */
public final class ShimBuild {

    /** A kernel source file: a short name (used in {@code #line} directives and messages) and its text. */
    public record Source(String name, String text) {
    }

    /** One kernel parameter, as parsed from the source. */
    record Param(String type, String name, String attribute, int index, String text) {
    }

    /** One kernel function and its parameters. */
    record KernelDecl(String name, List<Param> params) {
    }

    static final List<String> FLAGS = List.of(
            "-std=c++17", "-O2", "-fPIC", "-shared", "-fno-strict-aliasing", "-fvisibility=hidden",
            "-fsigned-char", "-Wall", "-Werror", "-Wno-unknown-attributes", "-Wno-unused-function");

    private static final Pattern KERNEL = Pattern.compile("\\bkernel\\s+void\\s+(\\w+)\\s*\\(");
    private static final Pattern ATTRIBUTE = Pattern.compile("\\[\\[\\s*(\\w+)\\s*(?:\\(\\s*(\\d+)\\s*\\))?\\s*\\]\\]");
    private static final Pattern TG_ATTRIBUTE = Pattern.compile("\\[\\[\\s*threadgroup\\s*\\(");
    private static final Pattern HALF_LITERAL = Pattern.compile("(?<![\\w.])(\\d+\\.\\d*|\\.\\d+|\\d+)h\\b");

    /** Built-in attribute name -> expression of the launcher's {@code msl::Ids t} (arrays for 3-vectors). */
    private static final Map<String, String> BUILTINS = Map.ofEntries(
            Map.entry("threadgroup_position_in_grid", "t.threadgroup_position_in_grid"),
            Map.entry("thread_position_in_threadgroup", "t.thread_position_in_threadgroup"),
            Map.entry("thread_position_in_grid", "t.thread_position_in_grid"),
            Map.entry("threads_per_threadgroup", "t.threads_per_threadgroup"),
            Map.entry("threadgroups_per_grid", "t.threadgroups_per_grid"),
            Map.entry("threads_per_grid", "t.threads_per_grid"),
            Map.entry("thread_index_in_threadgroup", "&t.thread_index_in_threadgroup"),
            Map.entry("simdgroup_index_in_threadgroup", "&t.simdgroup_index_in_threadgroup"),
            Map.entry("thread_index_in_simdgroup", "&t.thread_index_in_simdgroup"),
            Map.entry("threads_per_simdgroup", "&t.threads_per_simdgroup"),
            Map.entry("simdgroups_per_threadgroup", "&t.simdgroups_per_threadgroup"));

    private ShimBuild() {
    }

    /** The module directory (surefire sets {@code basedir}). */
    static Path moduleDir() {
        return Path.of(System.getProperty("basedir", ".")).toAbsolutePath();
    }

    static Path shimIncludeDir() {
        return moduleDir().resolve("src/test/cpp/shim");
    }

    /**
     * Builds (or finds the cached) library {@code lib<name>.so} from {@code sources} and returns its path.
     * Throws {@link IllegalStateException} with clang's output when the build fails or clang is missing.
     */
    public static synchronized Path build(String name, List<Source> sources) {
        String generated = generate(sources);
        Path include = shimIncludeDir();
        String runtime = read(include.resolve("shim_runtime.cpp"));
        StringBuilder key = new StringBuilder(generated).append(runtime).append(FLAGS);
        for (String h : List.of("msl_abi.hpp", "msl_shim.hpp", "metal_stdlib")) {
            key.append(read(include.resolve(h)));
        }
        String clang = findClang();
        key.append(clang);
        Path dir = moduleDir().resolve("target/shim").resolve(name + "-" + sha256(key.toString()).substring(0, 16));
        Path lib = dir.resolve("lib" + name + ".so");
        if (Files.isRegularFile(lib)) {
            return lib;
        }
        try {
            Files.createDirectories(dir);
            Path gen = dir.resolve(name + "_kernels.cpp");
            Files.writeString(gen, generated);
            Path tmp = Files.createTempFile(dir, "lib" + name, ".so.tmp");
            List<String> cmd = new ArrayList<>();
            cmd.add(clang);
            cmd.addAll(FLAGS);
            cmd.add("-I" + include);
            cmd.add("-o");
            cmd.add(tmp.toString());
            cmd.add(gen.toString());
            cmd.add(include.resolve("shim_runtime.cpp").toString());
            cmd.add("-lm");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
                Files.deleteIfExists(tmp);
                throw new IllegalStateException("clang++ failed to build the Metal shim library " + name + " ("
                        + String.join(" ", cmd) + "):\n" + new String(out, StandardCharsets.UTF_8));
            }
            try {
                Files.move(tmp, lib, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, lib, StandardCopyOption.REPLACE_EXISTING);
            }
            return lib;
        } catch (IOException e) {
            throw new UncheckedIOException("building the Metal shim library " + name + " in " + dir, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while building the Metal shim library " + name, e);
        }
    }

    /** clang++ from {@code STRATA_CLANG} or the PATH; a clear failure when there is none. */
    static String findClang() {
        String env = System.getenv("STRATA_CLANG");
        if (env != null && !env.isBlank()) {
            if (!Files.isExecutable(Path.of(env))) {
                throw new IllegalStateException("STRATA_CLANG=" + env + " is not an executable clang++");
            }
            return env;
        }
        String path = System.getenv().getOrDefault("PATH", "");
        List<String> names = new ArrayList<>(List.of("clang++"));
        for (int v = 22; v >= 14; v--) {
            names.add("clang++-" + v);
        }
        for (String n : names) {
            for (String d : path.split(java.io.File.pathSeparator)) {
                if (!d.isEmpty() && Files.isExecutable(Path.of(d, n))) {
                    return Path.of(d, n).toString();
                }
            }
        }
        throw new IllegalStateException("clang++ not found on PATH: the Metal kernel tests compile the .metal sources "
                + "as C++ against the CPU shim with clang >= 14 (Debian: apt-get install clang; .ci/run installs it), "
                + "or set STRATA_CLANG to a clang++ binary");
    }

    /** The translation unit: shim header, pre-processed sources with #line directives, launchers, kernel table. */
    static String generate(List<Source> sources) {
        StringBuilder out = new StringBuilder();
        out.append("// Generated by ShimBuild from ");
        for (Source s : sources) {
            out.append(s.name()).append(' ');
        }
        out.append("-- do not edit.\n#include <metal_stdlib>\n");
        List<KernelDecl> kernels = new ArrayList<>();
        for (Source s : sources) {
            String text = prepass(s);
            out.append("#line 1 \"").append(s.name()).append("\"\n").append(text);
            if (!text.endsWith("\n")) {
                out.append('\n');
            }
            kernels.addAll(parseKernels(s.name(), text));
        }
        out.append("#line 1 \"generated-launchers\"\nnamespace {\n");
        for (KernelDecl k : kernels) {
            out.append("void launch_").append(k.name()).append("(const msl::Launch& L, const msl::Ids& t) {\n    (void)L;\n    (void)t;\n    ")
                    .append(k.name()).append('(');
            for (int i = 0; i < k.params().size(); i++) {
                out.append(i == 0 ? "\n        " : ",\n        ").append(argument(k, k.params().get(i)));
            }
            out.append(");\n}\n");
            out.append("const msl::ParamCheck checks_").append(k.name()).append("[] = {\n");
            int n = 0;
            for (Param p : k.params()) {
                String check = check(p);
                if (check != null) {
                    out.append("    ").append(check).append(",\n");
                    n++;
                }
            }
            if (n == 0) {
                out.append("    {-1, 0, 0, nullptr},\n");
            }
            out.append("};\n");
        }
        out.append("}  // namespace\n\nextern \"C\" const msl::KernelEntry msl_kernel_table[] = {\n");
        for (KernelDecl k : kernels) {
            long n = k.params().stream().filter(p -> check(p) != null).count();
            out.append("    {\"").append(k.name()).append("\", &launch_").append(k.name()).append(", checks_").append(k.name())
                    .append(", ").append(n).append("},\n");
        }
        if (kernels.isEmpty()) {
            out.append("    {nullptr, nullptr, nullptr, 0},\n");
        }
        out.append("};\nextern \"C\" const int msl_kernel_count = ").append(kernels.size()).append(";\n");
        return out.toString();
    }

    static String prepass(Source s) {
        String text = TG_ATTRIBUTE.matcher(s.text()).replaceAll("[[tg_index(");
        return HALF_LITERAL.matcher(text).replaceAll("((half)$1f)");
    }

    static List<KernelDecl> parseKernels(String file, String text) {
        List<KernelDecl> out = new ArrayList<>();
        Matcher m = KERNEL.matcher(text);
        while (m.find()) {
            String name = m.group(1);
            int open = m.end() - 1;
            int close = matching(text, open, file, name);
            List<Param> params = new ArrayList<>();
            for (String raw : splitTopLevel(text.substring(open + 1, close))) {
                String p = raw.replaceAll("\\s+", " ").trim();
                if (p.isEmpty()) {
                    continue;
                }
                Matcher a = ATTRIBUTE.matcher(p);
                if (!a.find()) {
                    throw new IllegalArgumentException(file + ": kernel " + name + ": parameter '" + p + "' has no [[...]] attribute");
                }
                String decl = (p.substring(0, a.start()) + p.substring(a.end())).trim();
                Matcher id = Pattern.compile("(\\w+)\\s*$").matcher(decl);
                if (!id.find()) {
                    throw new IllegalArgumentException(file + ": kernel " + name + ": cannot find the parameter name in '" + p + "'");
                }
                String type = decl.substring(0, id.start()).trim();
                int index = a.group(2) == null ? -1 : Integer.parseInt(a.group(2));
                params.add(new Param(type, id.group(1), a.group(1), index, p));
            }
            out.add(new KernelDecl(name, params));
        }
        return out;
    }

    private static String argument(KernelDecl k, Param p) {
        return switch (p.attribute()) {
            case "buffer" -> {
                if (p.type().endsWith("&")) {
                    yield "*(" + p.type().substring(0, p.type().length() - 1).trim() + " *)L.buffers[" + p.index() + "]";
                }
                if (p.type().endsWith("*")) {
                    yield "(" + p.type() + ")L.buffers[" + p.index() + "]";
                }
                throw new IllegalArgumentException("kernel " + k.name() + ": buffer parameter '" + p.text() + "' must be a pointer or a reference");
            }
            case "tg_index" -> {
                if (!p.type().endsWith("*")) {
                    throw new IllegalArgumentException("kernel " + k.name() + ": threadgroup parameter '" + p.text() + "' must be a pointer");
                }
                yield "(" + p.type() + ")L.tgmem[" + p.index() + "]";
            }
            default -> {
                String field = BUILTINS.get(p.attribute());
                if (field == null) {
                    throw new IllegalArgumentException("kernel " + k.name() + ": the shim does not know the attribute [[" + p.attribute()
                            + "]] of '" + p.text() + "'");
                }
                yield "msl::builtin<" + p.type() + ">(" + field + ")";
            }
        };
    }

    private static String check(Param p) {
        String text = "\"" + p.text().replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
        return switch (p.attribute()) {
            case "buffer" -> p.type().endsWith("&")
                    ? "{1, " + p.index() + ", sizeof(" + p.type().substring(0, p.type().length() - 1).trim() + "), " + text + "}"
                    : "{0, " + p.index() + ", 0, " + text + "}";
            case "tg_index" -> "{2, " + p.index() + ", 0, " + text + "}";
            default -> null;
        };
    }

    private static int matching(String text, int open, String file, String kernel) {
        int depth = 0;
        for (int i = open; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '(') {
                depth++;
            } else if (c == ')' && --depth == 0) {
                return i;
            }
        }
        throw new IllegalArgumentException(file + ": kernel " + kernel + ": unbalanced parentheses in its parameter list");
    }

    private static List<String> splitTopLevel(String s) {
        List<String> parts = new ArrayList<>();
        int depth = 0;
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '(' || c == '<' || c == '[') {
                depth++;
            } else if (c == ')' || c == '>' || c == ']') {
                depth--;
            } else if (c == ',' && depth == 0) {
                parts.add(s.substring(start, i));
                start = i + 1;
            }
        }
        parts.add(s.substring(start));
        return parts;
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException("reading shim source " + p + " (is basedir the kernels-metal module?)", e);
        }
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
