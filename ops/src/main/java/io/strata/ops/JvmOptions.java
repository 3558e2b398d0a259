package io.strata.ops;

import java.lang.management.ManagementFactory;
import java.util.List;

/** JVM options that child processes on this JVM's class path (workers, fresh-JVM benchmarks) take over from it. */
public final class JvmOptions {

    private JvmOptions() {
    }

    /**
     * The class-data sharing options {@code ./strata} starts this JVM with: the archive (valid for the same JDK and class
     * path, which the children share) and the switched-off CDS log (it writes to stdout, which the children's parents
     * read). Empty when this JVM runs without an archive.
     */
    public static List<String> classDataSharing() {
        return classDataSharing(ManagementFactory.getRuntimeMXBean().getInputArguments());
    }

    static List<String> classDataSharing(List<String> jvmArgs) {
        if (jvmArgs.stream().noneMatch(a -> a.startsWith("-XX:SharedArchiveFile="))) return List.of();
        return jvmArgs.stream().filter(a -> a.startsWith("-XX:SharedArchiveFile=") || a.startsWith("-Xlog:cds")).toList();
    }
}
