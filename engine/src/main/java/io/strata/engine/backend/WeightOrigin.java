package io.strata.engine.backend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Where a weight's bytes come from, identified without reading them: the file (real path), its version (size,
 * modification time and file key, i.e. device and inode on Linux) and the tensor's offset in it. Two origins are equal
 * when the bytes are the same as far as the file system can tell, so a backend may reuse what it derived from them.
 */
public record WeightOrigin(Path file, String version, long offset) {

    /** The version of {@code file} as it is now ({@code file} should be a real path). */
    public static String versionOf(Path file) throws IOException {
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
        return "size " + a.size() + " mtime " + a.lastModifiedTime().toInstant() + " key " + a.fileKey();
    }

    /** The origin of the bytes at {@code offset} of {@code file} as it is now; null when the file cannot be examined. */
    public static WeightOrigin of(Path file, long offset) {
        try {
            Path real = file.toRealPath();
            return new WeightOrigin(real, versionOf(real), offset);
        } catch (IOException e) {
            return null;
        }
    }

    @Override
    public String toString() {
        return file + " (" + version + ") offset " + offset;
    }
}
