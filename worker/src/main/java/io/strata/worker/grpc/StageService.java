package io.strata.worker.grpc;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.strata.proto.v1.Hello;
import io.strata.proto.v1.HelloReply;
import io.strata.proto.v1.StageFrame;
import io.strata.proto.v1.StageReply;
import io.strata.proto.v1.StageServiceGrpc;
import io.strata.proto.v1.StreamRole;
import io.strata.worker.Frames;
import io.strata.worker.StageHost;
import io.strata.worker.StageSlot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stage stream, server side. The first frame must be a Hello naming the model, the layer range and the role:
 * INPUT streams feed steps and releases into the stage (with manual flow control: {@code window} frames of credit,
 * one more each time the stage thread has handed a frame on); the RESULTS stream (the coordinator's, last stage
 * only) becomes the stage's output. A newer stream of the same role replaces the older one.
 *
 * <p>Runs on the transport thread (the server gives this service a direct executor): handlers decode, then the stage
 * host either runs the frame right here (a short step whose output is ready) or queues it for the stage thread.
 */
final class StageService extends StageServiceGrpc.StageServiceImplBase {
    private static final Logger log = LoggerFactory.getLogger(StageService.class);

    private final String workerId;
    private final StageSlot slot;
    private final ControlService control;
    private final int window;
    private final Object lock = new Object();
    private Inbound currentInput;  // guarded by lock

    StageService(String workerId, StageSlot slot, ControlService control, int window) {
        this.workerId = workerId;
        this.slot = slot;
        this.control = control;
        this.window = window;
    }

    @Override
    public StreamObserver<StageFrame> stream(StreamObserver<StageReply> responseObserver) {
        ServerCallStreamObserver<StageReply> out = (ServerCallStreamObserver<StageReply>) responseObserver;
        out.disableAutoRequest();
        Inbound in = new Inbound(out);
        // Handlers can only be set now, before the call is handed back; they feed the results gate if this
        // stream becomes a RESULTS stream.
        out.setOnReadyHandler(in.gate::signal);
        out.setOnCancelHandler(() -> in.gate.breakWith("the results stream to worker " + workerId + " was cancelled"));
        out.request(1);  // the Hello
        return in;
    }

    private final class Inbound implements StreamObserver<StageFrame> {
        private final ServerCallStreamObserver<StageReply> out;
        final ReadyGate gate = new ReadyGate();
        private StreamRole role;
        private StageHost host;
        private ResultsSink sink;
        private int width;
        private volatile boolean done;

        Inbound(ServerCallStreamObserver<StageReply> out) {
            this.out = out;
        }

        @Override
        public void onNext(StageFrame f) {
            if (done) return;
            try {
                if (role == null) {
                    hello(f);
                } else if (role != StreamRole.STREAM_ROLE_INPUT) {
                    fail(Status.INVALID_ARGUMENT.withDescription("a RESULTS stream carries nothing after its Hello"));
                } else {
                    switch (f.getKindCase()) {
                        case STEP -> {
                            Frames.Step step = Wire.step(f.getStep(), host.stage().isFirst(), width, System.nanoTime());
                            // A warm-up frame (stage.proto) is decoded and checked as any step, then dropped.
                            if (f.getStep().getWarmup()) {
                                host.warmupFrame();
                                credit();
                            } else {
                                host.submit(step, this::credit);
                            }
                        }
                        case RELEASE -> host.submit(Wire.release(f.getRelease()), this::credit);
                        case HELLO -> fail(Status.INVALID_ARGUMENT.withDescription("a second Hello on one stream"));
                        case KIND_NOT_SET -> fail(Status.INVALID_ARGUMENT.withDescription("an empty frame"));
                    }
                }
            } catch (IllegalArgumentException e) {
                fail(Status.INVALID_ARGUMENT.withDescription("worker " + workerId + ": " + e.getMessage()));
            } catch (IllegalStateException e) {
                fail(Status.UNAVAILABLE.withDescription(e.getMessage()));
            }
        }

        private void credit() {
            if (!done && !out.isCancelled()) {
                try {
                    out.request(1);
                } catch (RuntimeException e) {
                    // the call ended meanwhile
                }
            }
        }

        private void hello(StageFrame f) {
            if (f.getKindCase() != StageFrame.KindCase.HELLO) {
                fail(Status.FAILED_PRECONDITION.withDescription("the first frame of a stage stream must be a Hello, got " + f.getKindCase()));
                return;
            }
            Hello h = f.getHello();
            StageSlot.Status s = slot.status();
            String refusal = HelloCheck.refusal(h, workerId, s, true);
            StageHost hh = slot.host();
            if (refusal == null && hh == null) refusal = "worker " + workerId + " has no stage running";
            if (refusal == null && h.getModelFingerprint().isEmpty()) refusal = "a stage stream's Hello must name the model fingerprint";
            if (refusal == null && h.getRole() == StreamRole.STREAM_ROLE_RESULTS && !hh.stage().isLast()) {
                refusal = hh.where() + " is not the last stage: it has no results";
            }
            if (refusal == null && h.getRole() != StreamRole.STREAM_ROLE_INPUT && h.getRole() != StreamRole.STREAM_ROLE_RESULTS) {
                refusal = "the Hello names no stream role";
            }
            if (refusal != null) {
                fail(Status.FAILED_PRECONDITION.withDescription(refusal));
                return;
            }
            role = h.getRole();
            host = hh;
            width = hh.stage().config().dim();
            out.onNext(StageReply.newBuilder().setHello(HelloReply.newBuilder().setProtocolVersion(HelloCheck.PROTOCOL)
                    .setWorkerId(workerId).setStatus(control.status())).build());
            if (role == StreamRole.STREAM_ROLE_RESULTS) {
                sink = new ResultsSink(out, gate, hh.stage().config().vocab(), hh.where());
                var old = hh.output();
                hh.setOutput(sink);
                if (old instanceof ResultsSink r && r != sink) r.close();
                out.request(1);  // to hear the coordinator half-close
                log.info("worker {}: results stream opened by {}", workerId, h.getCaller());
            } else {
                Inbound previous;
                synchronized (lock) {
                    previous = currentInput;
                    currentInput = this;
                }
                if (previous != null && previous != this) previous.supersede(h.getCaller());
                out.request(window);
                log.info("worker {}: input stream opened by {}", workerId, h.getCaller());
            }
        }

        void supersede(String by) {
            fail(Status.CANCELLED.withDescription("replaced by a newer input stream from " + by));
        }

        private void fail(Status s) {
            if (done) return;
            done = true;
            if (sink != null) sink.closedByPeer(s.getDescription());
            try {
                out.onError(s.asRuntimeException());
            } catch (StatusRuntimeException | IllegalStateException e) {
                // already closed
            }
        }

        @Override
        public void onError(Throwable t) {
            done = true;
            if (sink != null) sink.closedByPeer("the results stream broke: " + Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            if (done) return;
            done = true;
            if (sink != null) sink.closedByPeer("the coordinator closed the results stream");
            try {
                out.onCompleted();
            } catch (IllegalStateException e) {
                // already closed
            }
        }
    }
}
