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

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * A middle stage's output: an INPUT stream to the next stage's worker, opened with a Hello that names the model,
 * the next range and the plan. Sends from the stage thread; waits for the transport's readiness (flow control).
 */
final class DownstreamLink implements StageOutput, AutoCloseable {
    private static final long HANDSHAKE_SECONDS = 10;

    private final ManagedChannel channel;
    private final boolean ownsChannel;
    private final String peer;
    private final int dim;
    private final ActivationType type;
    private final ReadyGate gate = new ReadyGate();
    private final CompletableFuture<Void> handshake = new CompletableFuture<>();
    private volatile Consumer<String> onBroken;
    private ClientCallStreamObserver<StageFrame> requests;

    private DownstreamLink(ManagedChannel channel, boolean ownsChannel, Assignment a, int dim) {
        this.channel = channel;
        this.ownsChannel = ownsChannel;
        this.peer = "worker " + a.next().workerId() + " at " + a.next().address();
        this.dim = dim;
        this.type = a.activations();
    }

    /** Opens the stream and completes the handshake, or throws with the peer's reason. */
    static DownstreamLink open(ManagedChannel channel, boolean ownsChannel, Assignment a, int dim, String caller,
                               Consumer<String> onBroken) throws Exception {
        DownstreamLink link = new DownstreamLink(channel, ownsChannel, a, dim);
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
        return link;
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
