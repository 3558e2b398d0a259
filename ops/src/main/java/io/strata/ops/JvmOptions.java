package io.strata.ops;

import java.lang.management.ManagementFactory;
import java.util.List;

/** JVM options that child processes on this JVM's class path (workers, fresh-JVM benchmarks) take over from it. */
public final class JvmOptions {

    /**
     * The options of a worker process, the launcher's ({@code ./strata}): the Vector API and native access, 4 MiB thread
     * stacks, the parallel collector, and a capped heap.
     * Weights and KV caches live outside the heap; without the caps the young generation grows to a gigabyte of
     * resident pages during a load's churn, and while it grows each step allocates from heap pages never touched
     * before: a page fault per 4 KiB, about 14 µs each on a VM, 0.2 ms per 64 KiB activation buffer (BENCHMARKS.md,
     * "Cluster"). {@code strata local} and {@code ClusterBench} start their workers with these.
     */
    public static final List<String> WORKER = List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
            "-Xss4m", "-XX:+UseParallelGC", "-Xmx512m", "-XX:MaxNewSize=48m");

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
