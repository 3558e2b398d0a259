package io.strata.engine.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The project's copy of llama.cpp's reference outputs ({@code fixtures/} at the repository root; see
 * {@code fixtures/README.md}). Located through the system property {@code strata.fixtures} (set by the build), or by
 * walking up from the working directory.
 */
public final class Fixtures {
    private static Path root;
    private static JsonNode index;

    private Fixtures() {
    }

    public static synchronized Path root() {
        if (root == null) {
            String p = System.getProperty("strata.fixtures");
            Path r = p != null ? Path.of(p) : null;
            if (r == null || !Files.isDirectory(r)) {
                Path d = Path.of("").toAbsolutePath();
                while (d != null && !Files.isDirectory(d.resolve("fixtures"))) d = d.getParent();
                if (d == null) throw new IllegalStateException("fixtures folder not found (set -Dstrata.fixtures)");
                r = d.resolve("fixtures");
            }
            root = r;
        }
        return root;
    }

    public static Path path(String relative) {
        return root().resolve(relative);
    }

    /** {@code fixtures/index.json}: llama.cpp's tokenizations, logits and greedy continuations. */
    public static synchronized JsonNode index() {
        if (index == null) index = readJson(path("index.json"));
        return index;
    }

    public static JsonNode readJson(Path p) {
        try {
            return new ObjectMapper().readTree(p.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A float32 little-endian file as an array. */
    public static float[] readF32(Path p) {
        try {
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
            float[] f = new float[b.remaining() / 4];
            b.asFloatBuffer().get(f);
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static int[] ints(JsonNode array) {
        int[] r = new int[array.size()];
        for (int i = 0; i < r.length; i++) r[i] = array.get(i).asInt();
        return r;
    }

    public static float[] floats(JsonNode array) {
        float[] r = new float[array.size()];
        for (int i = 0; i < r.length; i++) r[i] = (float) array.get(i).asDouble();
        return r;
    }
}
