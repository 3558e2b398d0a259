package io.strata.worker.grpc;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.strata.proto.v1.AssignReply;
import io.strata.proto.v1.Hello;
import io.strata.proto.v1.HelloReply;
import io.strata.proto.v1.ReleaseReply;
import io.strata.proto.v1.ReleaseRequest;
import io.strata.proto.v1.StageAssignment;
import io.strata.proto.v1.StageState;
import io.strata.proto.v1.StatusRequest;
import io.strata.proto.v1.WorkerControlGrpc;
import io.strata.proto.v1.WorkerStatus;
import io.strata.worker.ResidentMemory;
import io.strata.worker.LoadException;
import io.strata.worker.StageSlot;

/** Control RPCs: translate and delegate to the {@link StageSlot}. */
final class ControlService extends WorkerControlGrpc.WorkerControlImplBase {
    private final String workerId;
    private final java.util.function.Supplier<String> address;
    private final StageSlot slot;

    ControlService(String workerId, java.util.function.Supplier<String> address, StageSlot slot) {
        this.workerId = workerId;
        this.address = address;
        this.slot = slot;
    }

    @Override
    public void hello(Hello request, StreamObserver<HelloReply> out) {
        String refusal = HelloCheck.refusal(request, workerId, slot.status(), false);
        if (refusal != null) {
            out.onError(Status.FAILED_PRECONDITION.withDescription(refusal).asRuntimeException());
            return;
        }
        HelloGate.Connection c = HelloGate.CURRENT.get();
        if (c != null) {
            c.greeted = true;
            c.caller = request.getCaller();
        }
        out.onNext(HelloReply.newBuilder().setProtocolVersion(HelloCheck.PROTOCOL).setWorkerId(workerId).setStatus(status()).build());
        out.onCompleted();
    }

    @Override
    public void assign(StageAssignment request, StreamObserver<AssignReply> out) {
        boolean kept;
        try {
            kept = slot.assign(Wire.assignment(request));
        } catch (IllegalArgumentException e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("worker " + workerId + ": " + e.getMessage()).asRuntimeException());
            return;
        } catch (LoadException e) {
            Status s = switch (e.reason()) {
                case MEMORY -> Status.RESOURCE_EXHAUSTED;
                case NOT_FOUND -> Status.NOT_FOUND;
                case CHECKSUM, INVALID -> Status.FAILED_PRECONDITION;
            };
            out.onError(s.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        out.onNext(AssignReply.newBuilder().setKept(kept).setStatus(status()).build());
        out.onCompleted();
    }

    @Override
    public void release(ReleaseRequest request, StreamObserver<ReleaseReply> out) {
        var a = slot.assignment();
        if (request.getPlanVersion() != 0 && a != null && a.planVersion() != request.getPlanVersion()) {
            out.onError(Status.FAILED_PRECONDITION.withDescription("worker " + workerId + " holds plan " + a.planVersion()
                    + ", not " + request.getPlanVersion()).asRuntimeException());
            return;
        }
        slot.release();
        out.onNext(ReleaseReply.newBuilder().setStatus(status()).build());
        out.onCompleted();
    }

    @Override
    public void status(StatusRequest request, StreamObserver<WorkerStatus> out) {
        out.onNext(status());
        out.onCompleted();
    }

    @Override
    public void watch(StatusRequest request, StreamObserver<WorkerStatus> responseObserver) {
        ServerCallStreamObserver<WorkerStatus> out = (ServerCallStreamObserver<WorkerStatus>) responseObserver;
        Object lock = new Object();
        Runnable send = () -> {
            synchronized (lock) {
                if (!out.isCancelled()) out.onNext(status());
            }
        };
        slot.addListener(send);
        out.setOnCancelHandler(() -> slot.removeListener(send));
        send.run();
    }

    WorkerStatus status() {
        StageSlot.Status s = slot.status();
        WorkerStatus.Builder b = WorkerStatus.newBuilder().setWorkerId(workerId).setAddress(address.get()).setState(state(s.state()))
                .setError(s.error()).setWeightBytes(s.weightBytes()).setLoadedBytes(s.loadedBytes()).setKvBytes(s.kvBytes())
                .setModelResidentBytes(ResidentMemory.ofFiles(slot.modelPaths())).setProcessResidentBytes(ResidentMemory.process())
                .setLoadNanos(s.loadNanos()).setActiveSequences(s.activeSequences()).setSteps(s.steps()).setLoads(s.loads())
                .setWarmupFrames(s.warmupFrames());
        if (s.assignment() != null) b.setAssignment(Wire.assignment(s.assignment()));
        return b.build();
    }

    static StageState state(StageSlot.State s) {
        return switch (s) {
            case IDLE -> StageState.STAGE_STATE_IDLE;
            case LOADING -> StageState.STAGE_STATE_LOADING;
            case LINKING -> StageState.STAGE_STATE_LINKING;
            case READY -> StageState.STAGE_STATE_READY;
            case FAILED -> StageState.STAGE_STATE_FAILED;
        };
    }
}
