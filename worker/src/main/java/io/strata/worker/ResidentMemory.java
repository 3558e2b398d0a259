package io.strata.worker;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * Resident memory as Linux reports it in {@code /proc/self}: of the whole process, and of the mappings of given files
 * (how much of a model this worker has actually paged in). Returns 0 where {@code /proc} does not exist (macOS).
 */
public final class ResidentMemory {
    private static final Path SMAPS = Path.of("/proc/self/smaps");
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final String DELETED = " (deleted)";

    private ResidentMemory() {
    }

    /** VmRSS of this process in bytes. */
    public static long process() {
        if (!Files.isReadable(STATUS)) return 0;
        try (BufferedReader r = Files.newBufferedReader(STATUS)) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith("VmRSS:")) return kib(line);
            }
        } catch (IOException e) {
            return 0;
        }
        return 0;
    }

    /** Sum of the resident bytes of every mapping of the given files (also after they were unlinked). */
    public static long ofFiles(Set<Path> files) {
        if (files.isEmpty() || !Files.isReadable(SMAPS)) return 0;
        Set<String> names = new java.util.HashSet<>();
        for (Path p : files) {
            names.add(p.toAbsolutePath().normalize().toString());
            try {
                names.add(p.toRealPath().toString());
            } catch (IOException e) {
                // keep the absolute name
            }
        }
        long total = 0;
        boolean in = false;
        try (BufferedReader r = Files.newBufferedReader(SMAPS)) {
            for (String line; (line = r.readLine()) != null; ) {
                if (isHeader(line)) {
                    int slash = line.indexOf('/');
                    String name = slash < 0 ? "" : line.substring(slash).trim();
                    if (name.endsWith(DELETED)) name = name.substring(0, name.length() - DELETED.length());
                    in = slash >= 0 && names.contains(name);
                } else if (in && line.startsWith("Rss:")) {
                    total += kib(line);
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return total;
    }

    /** Mapping header lines start with an address range such as {@code 7f12a000-7f12b000 r--p ...}. */
    private static boolean isHeader(String line) {
        int dash = line.indexOf('-');
        if (dash <= 0) return false;
        for (int i = 0; i < dash; i++) {
            char c = line.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) return false;
        }
        return true;
    }

    private static long kib(String line) {
        String[] parts = line.trim().split("\\s+");
        return Long.parseLong(parts[1]) * 1024;
    }
}
