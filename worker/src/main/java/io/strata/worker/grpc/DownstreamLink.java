package io.strata.worker.grpc;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.strata.proto.v1.Hello;
import io.strata.proto.v1.StageFrame;
import io.strata.proto.v1.StageReply;
import io.strata.proto.v1.StageServiceGrpc;
import io.strata.proto.v1.StreamRole;
import io.strata.worker.ActivationType;
import io.strata.worker.Assignment;
import io.strata.worker.Frames;
import io.strata.worker.StageOutput;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * A middle stage's output: an INPUT stream to the next stage's worker, opened with a Hello that names the model,
 * the next range and the plan, then warmed up (see {@link #warmUp}). Sends from the stage thread; waits for the
 * transport's readiness (flow control).
 */
final class DownstreamLink implements StageOutput, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DownstreamLink.class);
    private static final long HANDSHAKE_SECONDS = 10;
    /**
     * Warm-up frames a new link sends before the stage reports READY, and the most time they may take. Enough calls
     * for C2 to compile the activation path on both sides (tier 4 wants thousands of invocations); a few dozen
     * decode steps of a big model, a minute of serving, would otherwise run it interpreted or in C1. The time bound
     * is generous because every link of a pipeline warms up at once: on one 2-vCPU machine three 16384-wide links
     * got through 1,900-3,300 of their frames in 3 s (and the least warmed boundary then cost 1 ms instead of 0.3),
     * where one machine per stage takes 2 s for all 5,000.
     */
    static final int WARMUP_FRAMES = Integer.getInteger("strata.worker.warmupFrames", 5000);
    static final long WARMUP_MILLIS = 10_000;
    /** Rows per warm-up frame cycle through 1..WARMUP_MAX_ROWS, the sizes of decode batches. */
    private static final int WARMUP_MAX_ROWS = 2;

    private final ManagedChannel channel;
    private final boolean ownsChannel;
    private final String peer;
    private final int dim;
    private final ActivationType type;
    private final int stage;
    private final String caller;
    private final ReadyGate gate = new ReadyGate();
    private final CompletableFuture<Void> handshake = new CompletableFuture<>();
    private volatile Consumer<String> onBroken;
    private ClientCallStreamObserver<StageFrame> requests;

    private DownstreamLink(ManagedChannel channel, boolean ownsChannel, Assignment a, int dim, String caller) {
        this.channel = channel;
        this.ownsChannel = ownsChannel;
        this.peer = "worker " + a.next().workerId() + " at " + a.next().address();
        this.dim = dim;
        this.type = a.activations();
        this.stage = a.stage();
        this.caller = caller;
    }

    /** Opens the stream and completes the handshake, or throws with the peer's reason. */
    static DownstreamLink open(ManagedChannel channel, boolean ownsChannel, Assignment a, int dim, String caller,
                               Consumer<String> onBroken) throws Exception {
        DownstreamLink link = new DownstreamLink(channel, ownsChannel, a, dim, caller);
        link.onBroken = onBroken;
        StageServiceGrpc.newStub(channel).stream(link.new Replies());
        link.requests.onNext(StageFrame.newBuilder().setHello(Hello.newBuilder()
                .setProtocolVersion(HelloCheck.PROTOCOL).setModelFingerprint(a.fingerprint())
                .setExpected(Wire.range(a.next().first(), a.next().end())).setPlanVersion(a.planVersion())
                .setCaller(caller).setRole(StreamRole.STREAM_ROLE_INPUT)).build());
        try {
            link.handshake.get(HANDSHAKE_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            link.close();
            throw new Exception(e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            link.close();
            throw new Exception("no Hello reply within " + HANDSHAKE_SECONDS + " s");
        } catch (InterruptedException e) {
            link.close();
            throw e;
        }
        try {
            long t0 = System.nanoTime();
            int sent = link.warmUp(WARMUP_FRAMES, WARMUP_MILLIS);
            log.info("{}: link to {} warmed up with {} frames of 1-{} x {} {} in {} ms", caller, link.peer, sent,
                    WARMUP_MAX_ROWS, dim, link.type, (System.nanoTime() - t0) / 1_000_000);
        } catch (InterruptedException e) {
            link.close();
            throw e;
        } catch (RuntimeException e) {
            link.close();
            throw new Exception("warming up the link: " + e.getMessage(), e);
        }
        return link;
    }

    /**
     * Sends up to {@code frames} warm-up steps ({@code Step.warmup} in stage.proto) through the same encoding as real
     * steps, waiting for flow control as a real step does; stops after {@code millis}. Returns how many went. Each is
     * shaped like a decode step from this stage: 1 to {@link #WARMUP_MAX_ROWS} rows of Gaussian values (so the
     * conversions see the values they will see, not zeros), sequences mid-way through their context, sampling asked
     * or not, and a timing entry per stage so far. A field the warm-up never carried would be code C2 compiled without
     * (an uncommon trap), and the first real steps would run it deoptimized, in the interpreter.
     */
    int warmUp(int frames, long millis) throws InterruptedException {
        SplittableRandom random = new SplittableRandom(frames);
        float[] hidden = new float[WARMUP_MAX_ROWS * dim];
        for (int i = 0; i < hidden.length; i++) hidden[i] = (float) random.nextGaussian();
        long deadline = System.nanoTime() + millis * 1_000_000L;
        int sent = 0;
        while (sent < frames && System.nanoTime() - deadline < 0) {
            if (Thread.interrupted()) throw new InterruptedException("warm-up of the link to " + peer);  // released
            int rows = 1 + sent % WARMUP_MAX_ROWS;
            List<Frames.Chunk> chunks = new ArrayList<>(rows);
            for (int r = 0; r < rows; r++) {
                chunks.add(new Frames.Chunk(1 + random.nextInt(1 << 20), 1 + random.nextInt(4096), 1, random.nextBoolean(),
                        null, false, 0, false));
            }
            List<Frames.Timing> timings = new ArrayList<>(stage + 1);
            for (int s = 0; s <= stage; s++) {
                timings.add(new Frames.Timing(s, caller, random.nextLong(1 << 20), random.nextLong(1L << 30)));
            }
            Frames.Step step = new Frames.Step(sent + 1, chunks, null, hidden, List.of(), timings, 0);
            awaitReady();
            send(StageFrame.newBuilder().setStep(Wire.step(step, dim, type, true)).build());
            sent++;
        }
        return sent;
    }

    private final class Replies implements ClientResponseObserver<StageFrame, StageReply> {
        @Override
        public void beforeStart(ClientCallStreamObserver<StageFrame> r) {
            requests = r;
            r.disableAutoRequestWithInitial(1);
            r.setOnReadyHandler(gate::signal);
        }

        @Override
        public void onNext(StageReply reply) {
            if (reply.getKindCase() == StageReply.KindCase.HELLO) {
                handshake.complete(null);
                requests.request(1);
            }
        }

        @Override
        public void onError(Throwable t) {
            Status s = Status.fromThrowable(t);
            String reason = peer + ": " + s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
            if (handshake.completeExceptionally(new Exception(reason))) return;
            gate.breakWith(reason);
            Consumer<String> b = onBroken;
            if (b != null) b.accept(reason);
        }

        @Override
        public void onCompleted() {
            String reason = peer + " closed the stream";
            if (handshake.completeExceptionally(new Exception(reason))) return;
            gate.breakWith(reason);
            Consumer<String> b = onBroken;
            if (b != null) b.accept(reason);
        }
    }

    @Override
    public boolean readyNow() {
        return gate.broken() == null && requests.isReady();
    }

    @Override
    public void awaitReady() throws InterruptedException {
        gate.await(requests::isReady);
    }

    @Override
    public void forward(Frames.Step step) {
        send(StageFrame.newBuilder().setStep(Wire.step(step, dim, type)).build());
    }

    @Override
    public void forward(Frames.Release release) {
        send(StageFrame.newBuilder().setRelease(Wire.release(release)).build());
    }

    private void send(StageFrame f) {
        String b = gate.broken();
        if (b != null) throw new BrokenOutputException(b);
        requests.onNext(f);
    }

    @Override
    public void result(Frames.StepResult result) {
        throw new IllegalStateException("a middle stage sends no results");
    }

    @Override
    public void released(Frames.Release release) {
        throw new IllegalStateException("a middle stage sends no release acknowledgements");
    }

    @Override
    public void close() {
        onBroken = null;
        gate.breakWith("closed");
        try {
            if (requests != null) requests.onCompleted();
        } catch (RuntimeException e) {
            // already closed
        }
        if (ownsChannel) channel.shutdown();
    }
}
