package io.strata.coordinator.grpc;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.MoreExecutors;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.strata.coordinator.Plan;
import io.strata.coordinator.WorkerState;
import io.strata.coordinator.zk.ZkRecords;
import io.strata.proto.v1.AssignReply;
import io.strata.proto.v1.Hello;
import io.strata.proto.v1.LayerRange;
import io.strata.proto.v1.ProtocolVersion;
import io.strata.proto.v1.ReleaseReply;
import io.strata.proto.v1.ReleaseRequest;
import io.strata.proto.v1.StageAssignment;
import io.strata.proto.v1.StatusRequest;
import io.strata.proto.v1.WorkerControlGrpc;
import io.strata.proto.v1.WorkerStatus;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The coordinator's control connection to one worker: says Hello, keeps a Watch stream open and reports every
 * status (or that the worker cannot be reached, the moment its connection breaks), and sends assignments and
 * releases. Reconnects with backoff until closed.
 */
public final class WorkerClient implements AutoCloseable {
    private static final ScheduledExecutorService RETRY = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("worker-client-retry").daemon().factory());

    private final String id;
    private final String address;
    private final ManagedChannel channel;
    private final String caller;
    private final Consumer<WorkerState> onState;
    private volatile boolean closed;
    private volatile ClientCallStreamObserver<StatusRequest> watch;
    private long backoff = 50;

    public WorkerClient(String id, String address, ManagedChannel channel, String caller, Consumer<WorkerState> onState) {
        this.id = id;
        this.address = address;
        this.channel = channel;
        this.caller = caller;
        this.onState = onState;
        connect();
    }

    public String id() {
        return id;
    }

    public String address() {
        return address;
    }

    private WorkerControlGrpc.WorkerControlFutureStub stub() {
        return WorkerControlGrpc.newFutureStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private void connect() {
        if (closed) return;
        Hello hello = Hello.newBuilder().setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE).setCaller(caller).build();
        Futures.addCallback(stub().hello(hello), new FutureCallback<>() {
            @Override
            public void onSuccess(io.strata.proto.v1.HelloReply r) {
                if (!r.getWorkerId().equals(id)) {
                    retry("the worker at " + address + " says it is " + r.getWorkerId() + ", not " + id);
                    return;
                }
                backoff = 50;
                startWatch();
            }

            @Override
            public void onFailure(Throwable t) {
                retry(describe(t));
            }
        }, MoreExecutors.directExecutor());
    }

    private void startWatch() {
        WorkerControlGrpc.newStub(channel).watch(StatusRequest.getDefaultInstance(), new ClientResponseObserver<StatusRequest, WorkerStatus>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<StatusRequest> r) {
                watch = r;
            }

            @Override
            public void onNext(WorkerStatus s) {
                onState.accept(state(s));
            }

            @Override
            public void onError(Throwable t) {
                retry(describe(t));
            }

            @Override
            public void onCompleted() {
                retry("the worker ended its status stream");
            }
        });
    }

    private void retry(String why) {
        if (closed) return;
        onState.accept(WorkerState.unreachable(id, why));
        long delay = backoff;
        backoff = Math.min(2000, backoff * 2);
        RETRY.schedule(this::connect, delay, TimeUnit.MILLISECONDS);
    }

    static String describe(Throwable t) {
        Status s = Status.fromThrowable(t);
        return s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
    }

    public static WorkerState state(WorkerStatus s) {
        WorkerState.Phase phase = switch (s.getState()) {
            case STAGE_STATE_LOADING -> WorkerState.Phase.LOADING;
            case STAGE_STATE_LINKING -> WorkerState.Phase.LINKING;
            case STAGE_STATE_READY -> WorkerState.Phase.READY;
            case STAGE_STATE_FAILED -> WorkerState.Phase.FAILED;
            default -> WorkerState.Phase.IDLE;
        };
        StageAssignment a = s.getAssignment();
        return new WorkerState(s.getWorkerId(), phase, s.hasAssignment() ? a.getPlanVersion() : 0, a.getRange().getFirst(),
                a.getRange().getEnd(), a.getModel().getFingerprint(), s.getError(), s.getWeightBytes(), s.getLoadedBytes(), s.getLoads(), s.getLoadNanos());
    }

    /** Sends the assignment of {@code stage} in {@code plan}; completes with the worker's reply or its refusal. */
    public CompletableFuture<AssignReply> assign(Plan plan, Plan.Stage stage) {
        StageAssignment.Builder b = StageAssignment.newBuilder().setPlanVersion(plan.version()).setStage(stage.index())
                .setStages(plan.stages().size()).setModel(ZkRecords.model(plan))
                .setRange(LayerRange.newBuilder().setFirst(stage.first()).setEnd(stage.end()))
                .setContextLength(plan.contextLength()).setMaxSequences(plan.maxSequences()).setKvType(plan.kvType())
                .setActivations(ZkRecords.dtype(plan.activations())).setMaxBatch(plan.maxBatch());
        if (stage.index() + 1 < plan.stages().size()) {
            Plan.Stage next = plan.stages().get(stage.index() + 1);
            b.setNextAddress(next.address()).setNextWorkerId(next.workerId())
                    .setNextRange(LayerRange.newBuilder().setFirst(next.first()).setEnd(next.end()));
        }
        StageAssignment req = b.build();
        return greeted().thenCompose(x -> toCompletable(stub().assign(req)));
    }

    public CompletableFuture<ReleaseReply> release() {
        return greeted().thenCompose(x -> toCompletable(stub().release(ReleaseRequest.getDefaultInstance())));
    }

    public CompletableFuture<WorkerStatus> status() {
        return greeted().thenCompose(x -> toCompletable(stub().status(StatusRequest.getDefaultInstance())));
    }

    /**
     * Says Hello before a control call: the channel may have reconnected since the last one, and the worker refuses
     * control calls on a connection that has not said Hello.
     */
    private CompletableFuture<?> greeted() {
        return toCompletable(stub().hello(Hello.newBuilder().setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE)
                .setCaller(caller).build()));
    }

    private static <T> CompletableFuture<T> toCompletable(com.google.common.util.concurrent.ListenableFuture<T> lf) {
        CompletableFuture<T> f = new CompletableFuture<>();
        Futures.addCallback(lf, new FutureCallback<>() {
            @Override
            public void onSuccess(T r) {
                f.complete(r);
            }

            @Override
            public void onFailure(Throwable t) {
                f.completeExceptionally(new IllegalStateException(describe(t), t));
            }
        }, MoreExecutors.directExecutor());
        return f;
    }

    @Override
    public void close() {
        closed = true;
        ClientCallStreamObserver<StatusRequest> w = watch;
        if (w != null) w.cancel("closed", null);
    }
}
