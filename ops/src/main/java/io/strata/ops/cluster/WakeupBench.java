package io.strata.ops.cluster;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * How long it takes to wake a thread that has been idle, on this machine: the cost a pipeline boundary pays once per
 * wake-up when the processes slept through a long compute. For each idle period (0 = back to back) it measures the
 * one-way latency from "signal sent" to "waiter running" (both sides read {@code System.nanoTime()}, which on Linux is
 * the system-wide monotonic clock, so it compares across processes too):
 * <ul>
 *   <li>{@code park}: thread → thread in one JVM, {@code LockSupport.unpark} of a parked thread;</li>
 *   <li>{@code queue}: thread → thread, {@code ArrayBlockingQueue.put} to a thread blocked in {@code take};</li>
 *   <li>{@code tcp}: process → process, one message (8 bytes, or {@code bytes}: a pipeline boundary's activation frame)
 *       on a blocking loopback TCP socket to a child JVM blocked in {@code read}; the child reads the whole message,
 *       then sends its receive time back;</li>
 * </ul>
 * each with the idle period spent asleep ({@code sleep}: every thread of both sides idle, as when all stages wait),
 * computing in registers on the signalling thread ({@code busy}), or streaming a 256 MiB array on it ({@code stream}:
 * as when a stage finishes a forward pass over its weights and sends, the caches now holding weights).
 * Usage: {@code java -cp ... io.strata.ops.cluster.WakeupBench [idleMs=0,1,10,100] [seconds per cell=3] [bytes=8]}.
 * Prints one JSON object per cell, latencies in microseconds.
 */
public final class WakeupBench {
    private static volatile long sink;

    private WakeupBench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--echo")) {
            echo(Integer.parseInt(args[1]), Integer.parseInt(args[2]));
            return;
        }
        int[] idle = Arrays.stream((args.length > 0 ? args[0] : "0,1,10,100").split(",")).mapToInt(Integer::parseInt).toArray();
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 3;
        int bytes = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        if (bytes < 8) throw new IllegalArgumentException("bytes must be at least 8 (the send time), not " + bytes);
        try (Tcp tcp = Tcp.start(bytes)) {
            for (Idle kind : Idle.values()) {
                for (int ms : idle) {
                    if (ms == 0 && kind != Idle.SLEEP) continue;
                    int samples = samples(ms, seconds);
                    print("park", kind, ms, park(ms, kind, samples));
                    print("queue", kind, ms, queue(ms, kind, samples));
                    print("tcp", kind, ms, tcp.run(ms, kind, samples), bytes);
                }
            }
        }
    }

    private static int samples(int idleMs, double seconds) {
        return (int) Math.max(20, Math.min(20_000, seconds * 1000 / Math.max(0.05, idleMs)));
    }

    /** Spends the idle period asleep or computing; returns when it is over. */
    private static void idle(int ms, Idle kind) throws InterruptedException {
        if (ms == 0) return;
        long end = System.nanoTime() + ms * 1_000_000L;
        long x = 1;
        switch (kind) {
            case SLEEP -> Thread.sleep(ms);
            case BUSY -> {
                while (System.nanoTime() < end) {
                    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
                }
            }
            case STREAM -> {
                int i = 0;
                while (System.nanoTime() < end) {
                    for (int j = 0; j < 4096; j++, i = (i + 8) & (BIG.length - 1)) x += BIG[i];
                }
            }
        }
        sink = x;
    }

    /** Idle periods: asleep, computing in registers, or streaming memory (evicting the caches, as weights do). */
    private enum Idle { SLEEP, BUSY, STREAM }

    /** 256 MiB, eight times the last-level cache. */
    private static final long[] BIG = new long[32 << 20];

    private static long[] park(int ms, Idle kind, int samples) throws InterruptedException {
        long[] lat = new long[samples];
        long[] sent = new long[1];
        Thread main = Thread.currentThread();
        int[] seen = new int[1];
        Object lock = new Object();
        Thread waiter = Thread.ofPlatform().name("wake-waiter").start(() -> {
            for (int i = 0; i < samples; i++) {
                synchronized (lock) {
                    seen[0] = -1 - i;  // about to park for sample i
                }
                LockSupport.unpark(main);
                while (true) {
                    LockSupport.park();
                    long now = System.nanoTime();
                    synchronized (lock) {
                        if (seen[0] == i) {
                            lat[i] = now - sent[0];
                            break;
                        }
                    }
                }
            }
        });
        for (int i = 0; i < samples; i++) {
            while (true) {
                synchronized (lock) {
                    if (seen[0] == -1 - i) break;
                }
                LockSupport.park();
            }
            idle(ms, kind);
            synchronized (lock) {
                seen[0] = i;
                sent[0] = System.nanoTime();
            }
            LockSupport.unpark(waiter);
        }
        waiter.join();
        return lat;
    }

    private static long[] queue(int ms, Idle kind, int samples) throws InterruptedException {
        BlockingQueue<Long> to = new ArrayBlockingQueue<>(1);
        BlockingQueue<Long> back = new ArrayBlockingQueue<>(1);
        long[] lat = new long[samples];
        Thread waiter = Thread.ofPlatform().name("wake-queue").start(() -> {
            try {
                for (int i = 0; i < samples; i++) {
                    long sent = to.take();
                    lat[i] = System.nanoTime() - sent;
                    back.put(0L);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        for (int i = 0; i < samples; i++) {
            idle(ms, kind);
            to.put(System.nanoTime());
            back.take();
        }
        waiter.join();
        return lat;
    }

    /** The child JVM: reads each message of {@code bytes} (the send time first) and answers with its receive time. */
    private static void echo(int port, int bytes) throws IOException {
        byte[] rest = new byte[bytes - 8];
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setTcpNoDelay(true);
            DataInputStream in = new DataInputStream(s.getInputStream());
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            while (true) {
                long sent;
                try {
                    sent = in.readLong();
                    in.readFully(rest);
                } catch (IOException e) {
                    return;
                }
                long now = System.nanoTime();
                out.writeLong(now - sent);
                out.flush();
            }
        }
    }

    private static final class Tcp implements AutoCloseable {
        final Process child;
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;
        final byte[] message;

        private Tcp(Process child, Socket socket, int bytes) throws IOException {
            this.child = child;
            this.socket = socket;
            this.message = new byte[bytes];
            socket.setTcpNoDelay(true);
            this.in = new DataInputStream(socket.getInputStream());
            this.out = new DataOutputStream(socket.getOutputStream());
        }

        /** One message: the send time, then padding up to the message size; written in one call. */
        private void send() throws IOException {
            long t = System.nanoTime();
            for (int k = 0; k < 8; k++) message[k] = (byte) (t >>> (56 - 8 * k));
            out.write(message);
            out.flush();
        }

        static Tcp start(int bytes) throws IOException {
            try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                String java = ProcessHandle.current().info().command().orElseThrow();
                Process p = new ProcessBuilder(java, "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                        WakeupBench.class.getName(), "--echo", Integer.toString(server.getLocalPort()), Integer.toString(bytes))
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.INHERIT).start();
                server.setSoTimeout(30_000);
                return new Tcp(p, server.accept(), bytes);
            }
        }

        long[] run(int ms, Idle kind, int samples) throws Exception {
            for (int i = 0; i < 2000; i++) {  // warm both sides' code paths
                send();
                in.readLong();
            }
            long[] lat = new long[samples];
            for (int i = 0; i < samples; i++) {
                idle(ms, kind);
                send();
                lat[i] = in.readLong();
            }
            return lat;
        }

        @Override
        public void close() throws Exception {
            socket.close();
            child.waitFor();
        }
    }

    private static void print(String kind, Idle idleKind, int ms, long[] lat) {
        print(kind, idleKind, ms, lat, 0);
    }

    private static void print(String kind, Idle idleKind, int ms, long[] lat, int bytes) {
        long[] a = lat.clone();
        Arrays.sort(a);
        double load = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        System.out.println(String.format(Locale.ROOT,
                "{\"kind\":\"%s\",%s\"idle\":\"%s\",\"idle_ms\":%d,\"n\":%d,\"p10_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"loadavg\":%.2f}",
                kind, bytes > 0 ? "\"bytes\":" + bytes + "," : "", idleKind.name().toLowerCase(Locale.ROOT), ms, a.length,
                pct(a, 10), pct(a, 50), pct(a, 90), load));
        System.out.flush();
    }

    private static double pct(long[] sorted, int p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.round(p / 100.0 * (sorted.length - 1)))] / 1e3;
    }
}
