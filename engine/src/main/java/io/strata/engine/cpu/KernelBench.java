package io.strata.engine.cpu;

import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Times {@link MatMul} on the matrix shapes of a Llama-3.2-1B decode step, with weights in a file-backed map larger
 * than the last-level cache (several copies of each matrix, used in turn), and prints GB/s of weight bytes and the
 * decode rate those speeds add up to. With one thread the rates come from the thread's CPU time (on a shared machine
 * that is what the kernels cost); the wall-clock rate is printed beside it.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp engine/target/classes io.strata.engine.cpu.KernelBench \
 *      [--types Q4_0,Q8_0,...] [--threads 1] [--n 1] [--seconds 1.5] [--dir /tmp] [--prepare]
 * </pre>
 * {@code --hot} keeps one copy of at most 512 KiB of rows instead, in L2: the kernels' compute speed, which is what
 * can be measured on a machine whose memory bandwidth other work shares.
 * {@code --prepare} times the interleaved kernels on {@link MatMul#prepare}d copies (types that have them).
 * {@code -Dstrata.kernels=scalar} times the scalar kernels.
 */
public final class KernelBench {

    /** {cols, rows} of the timed shapes: attention q/o, ffn gate/up, ffn down, the classifier. */
    static final int[][] SHAPES = {{2048, 2048}, {2048, 8192}, {8192, 2048}, {2048, 128256}};
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();
    static final long MAP_BYTES = 512L << 20; // per shape: at least this much (16x a 32 MiB L3) of copies

    private KernelBench() {
    }

    public static void main(String[] args) throws IOException {
        List<GgmlType> types = new ArrayList<>(List.of(GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K,
                GgmlType.Q5_K, GgmlType.Q3_K, GgmlType.Q2_K, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
                GgmlType.F16, GgmlType.BF16, GgmlType.F32));
        int threads = 1, n = 1;
        boolean prepare = false, hot = false;
        hugePages = !Boolean.getBoolean("strata.bench.smallPages");
        double seconds = 1.5;
        Path dir = Path.of(System.getProperty("java.io.tmpdir"));
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--types" -> {
                    types.clear();
                    for (String t : args[++i].split(",")) types.add(GgmlType.valueOf(t.trim()));
                }
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--n" -> n = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--dir" -> dir = Path.of(args[++i]);
                case "--prepare" -> prepare = true;
                case "--hot" -> hot = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (options: --types T1,T2 --threads N --n N --seconds S --dir D --prepare --hot)");
            }
        }
        System.out.printf(Locale.ROOT, "# KernelBench: kernels=%s%s, threads=%d, n=%d, float lanes=%d, java %s%n",
                MatMul.SCALAR ? "scalar" : "vector", prepare ? " (interleaved where supported)" : "", threads, n,
                VectorKernels.L, Runtime.version());
        System.out.printf(Locale.ROOT, "%-5s %-14s %10s %9s %9s %9s%n", "type", "cols x rows", "MB", "ms/call", "GB/s", "GB/s cpu");
        Map<GgmlType, double[]> gbps = new EnumMap<>(GgmlType.class);
        try (MatMul mm = new MatMul(threads)) {
            for (GgmlType type : types) {
                double[] rates = new double[SHAPES.length];
                for (int s = 0; s < SHAPES.length; s++) {
                    int rows = SHAPES[s][1];
                    if (hot) rows = (int) Math.min(rows, Math.max(32, (512 << 10) / type.byteSize(SHAPES[s][0]) / 32 * 32));
                    rates[s] = time(mm, type, SHAPES[s][0], rows, n, seconds, dir, prepare, hot);
                }
                gbps.put(type, rates);
            }
        }
        System.out.println();
        System.out.println("# decode tok/s implied by these speeds (Llama-3.2-1B shapes, 16 layers, tied 128256 classifier)");
        for (GgmlType type : types) {
            System.out.printf(Locale.ROOT, "%-22s %6.1f tok/s%n", "pure " + type, tokPerSecond(type, type, type, gbps));
        }
        if (gbps.containsKey(GgmlType.Q4_0) && gbps.containsKey(GgmlType.Q6_K)) {
            System.out.printf(Locale.ROOT, "%-22s %6.1f tok/s%n", "Q4_0 mix (Q6_K out)", tokPerSecond(GgmlType.Q4_0, GgmlType.Q4_0, GgmlType.Q6_K, gbps));
        }
        if (gbps.containsKey(GgmlType.Q4_K) && gbps.containsKey(GgmlType.Q6_K)) {
            System.out.printf(Locale.ROOT, "%-22s %6.1f tok/s%n", "Q4_K_M mix", tokPerSecond(GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q6_K, gbps));
        }
    }

    /**
     * Seconds per token from the measured rates: per layer q, o (2048x2048), k, v (2048x512, at the 2048x2048 rate),
     * gate, up, down; then the classifier. {@code half} is the type of attn_v and ffn_down in half of the layers
     * (Q4_K_M uses Q6_K there), {@code out} the classifier's.
     */
    static double tokPerSecond(GgmlType main, GgmlType half, GgmlType out, Map<GgmlType, double[]> gbps) {
        double t = 0;
        for (int layer = 0; layer < 16; layer++) {
            GgmlType vd = layer % 2 == 0 ? half : main;
            t += 2 * secs(main, 2048, 2048, 0, gbps) + secs(main, 2048, 512, 0, gbps) + secs(vd, 2048, 512, 0, gbps)
                    + 2 * secs(main, 2048, 8192, 1, gbps) + secs(vd, 8192, 2048, 2, gbps);
        }
        t += secs(out, 2048, 128256, 3, gbps);
        return 1 / t;
    }

    private static double secs(GgmlType type, int cols, int rows, int shape, Map<GgmlType, double[]> gbps) {
        return type.byteSize((long) cols * rows) / (gbps.get(type)[shape] * 1e9);
    }

    /** Interleaved copies in huge-page-advised memory (as MatMul's own); -Dstrata.bench.smallPages=true to compare. */
    private static boolean hugePages = true;

    private static double median(List<Double> v) {
        double[] s = new double[v.size()];
        for (int i = 0; i < s.length; i++) s[i] = v.get(i);
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /** Writes copies of one random matrix to a temp file, maps it, and times matmul over the copies in turn; GB/s. */
    static double time(MatMul mm, GgmlType type, int cols, int rows, int n, double seconds, Path dir, boolean prepare,
                       boolean hot) throws IOException {
        long bytes = type.byteSize((long) cols * rows);
        int copies = hot ? 1 : (int) Math.max(2, (MAP_BYTES + bytes - 1) / bytes);
        // One random slab of up to 1024 rows, repeated to fill the matrix: quantizing is slow, and values do not matter.
        int slabRows = Math.min(rows, 1024);
        float[] w = new float[cols * slabRows];
        Random r = new Random(42);
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        byte[] slab = Quantize.quantize(type, w, 0, w.length);
        Path file = Files.createTempFile(dir, "strata-kernelbench-", ".bin");
        try {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.wrap(slab);
                long total = bytes * copies;
                long written = 0;
                while (written < total) {
                    buf.clear();
                    buf.limit((int) Math.min(slab.length, total - written));
                    while (buf.hasRemaining()) written += ch.write(buf);
                }
            }
            try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes * copies, arena);
                Tensor[] ts = new Tensor[copies];
                for (int c = 0; c < copies; c++) {
                    ts[c] = new Tensor("bench", type, new long[]{cols, rows}, map.asSlice(c * bytes, bytes));
                    if (prepare) mm.prepare(ts[c], hugePages ? HugePages.allocator(arena) : arena);
                }
                float[] x = new float[n * cols];
                for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
                float[] out = new float[n * rows];
                ActivationCache cache = new ActivationCache();
                // Warm-up: touch every page and let the JIT compile the kernels.
                // C2 takes a while to compile the Vector API kernels, more on a busy machine.
                long warmEnd = System.nanoTime() + (long) (Math.max(2.0, seconds) * 1e9);
                int k = 0;
                do {
                    mm.matmul(ts[k++ % copies], x, n, out, cache);
                } while (k < 2 * copies || k < 50 || System.nanoTime() < warmEnd);
                // Timed: passes of `copies` calls until `seconds` have passed; the median pass counts.
                // With one thread, the caller's CPU time is also taken: on a shared machine it is what the kernel
                // cost, while wall time includes waiting for the core.
                List<Double> perCall = new ArrayList<>();
                List<Double> cpuPerCall = new ArrayList<>();
                long end = System.nanoTime() + (long) (seconds * 1e9);
                do {
                    long c0 = CPU.getCurrentThreadCpuTime();
                    long t0 = System.nanoTime();
                    for (int c = 0; c < copies; c++) mm.matmul(ts[c], x, n, out, cache);
                    perCall.add((System.nanoTime() - t0) / 1e9 / copies);
                    cpuPerCall.add((CPU.getCurrentThreadCpuTime() - c0) / 1e9 / copies);
                } while (System.nanoTime() < end || perCall.size() < 3);
                double median = median(perCall);
                double rate = mm.threads() == 1 ? bytes / median(cpuPerCall) / 1e9 : bytes / median / 1e9;
                String cpuRate = mm.threads() == 1 ? String.format(Locale.ROOT, "%9.2f", rate) : "";
                System.out.printf(Locale.ROOT, "%-5s %-14s %10.1f %9.3f %9.2f %s%n", type, cols + "x" + rows, bytes / 1e6,
                        median * 1e3, bytes / median / 1e9, cpuRate);
                if (Float.isNaN(out[0]) || Arrays.equals(out, new float[out.length])) throw new AssertionError("no result");
                return rate;
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
