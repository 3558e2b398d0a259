package io.strata.coordinator.grpc;

import io.strata.engine.sample.StageSampling;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.strata.coordinator.Pipeline;
import io.strata.coordinator.PipelineException;
import io.strata.coordinator.Plan;
import io.strata.proto.v1.DType;
import io.strata.proto.v1.Hello;
import io.strata.proto.v1.LayerRange;
import io.strata.proto.v1.Matrix;
import io.strata.proto.v1.ProtocolVersion;
import io.strata.proto.v1.Release;
import io.strata.proto.v1.SamplingParams;
import io.strata.proto.v1.SeqChunk;
import io.strata.proto.v1.SeqResult;
import io.strata.proto.v1.StageFrame;
import io.strata.proto.v1.StageReply;
import io.strata.proto.v1.StageServiceGrpc;
import io.strata.proto.v1.StageTiming;
import io.strata.proto.v1.Step;
import io.strata.proto.v1.StreamRole;
import io.strata.proto.v1.TokenLogprob;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The coordinator's end of a pipeline: an INPUT stream into stage 0 and the RESULTS stream from the last stage.
 * Activations never pass through here. Sends wait for transport credit (manual flow control; the backlog drains
 * from the stream's on-ready handler); results are read one at a time and matched to their step by id.
 */
public final class GrpcPipeline implements Pipeline {
    private static final long HANDSHAKE_SECONDS = 10;
    private static final ValueLayout.OfFloat F32LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Plan plan;
    private final Info info;
    private final String caller;
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final Map<Long, CompletableFuture<Void>> releases = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final ArrayDeque<StageFrame> backlog = new ArrayDeque<>();  // guarded by itself
    private volatile String broken;
    private Input input;
    private Results results;

    private record Pending(CompletableFuture<StepResult> future, long sentNanos) {
    }

    private GrpcPipeline(Plan plan, Info info, String caller) {
        this.plan = plan;
        this.info = info;
        this.caller = caller;
    }

    /**
     * Opens the streams (results first, so no result can be missed) and completes both handshakes.
     *
     * @param channelTo channel to a worker address
     */
    public static GrpcPipeline open(Plan plan, Info info, String caller, java.util.function.Function<String, ManagedChannel> channelTo)
            throws PipelineException {
        GrpcPipeline p = new GrpcPipeline(plan, info, caller);
        try {
            Plan.Stage last = plan.last();
            p.results = p.new Results(last);
            StageServiceGrpc.newStub(channelTo.apply(last.address())).stream(p.results);
            p.results.hello();
            Plan.Stage first = plan.first();
            p.input = p.new Input(first);
            StageServiceGrpc.newStub(channelTo.apply(first.address())).stream(p.input);
            p.input.hello();
            return p;
        } catch (PipelineException e) {
            p.fail(e.getMessage());
            throw e;
        }
    }

    private Hello hello(Plan.Stage s, StreamRole role) {
        return Hello.newBuilder().setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE)
                .setModelFingerprint(plan.fingerprint()).setExpected(LayerRange.newBuilder().setFirst(s.first()).setEnd(s.end()))
                .setPlanVersion(plan.version()).setCaller(caller).setRole(role).build();
    }

    private static String where(Plan.Stage s) {
        return "stage " + s.index() + " (layers " + s.range() + " on worker " + s.workerId() + " at " + s.address() + ")";
    }

    private static void awaitHello(CompletableFuture<Void> handshake, Plan.Stage s) {
        try {
            handshake.get(HANDSHAKE_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new PipelineException("cannot open the stream to " + where(s) + ": " + e.getCause().getMessage());
        } catch (TimeoutException e) {
            throw new PipelineException("no Hello reply from " + where(s) + " within " + HANDSHAKE_SECONDS + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PipelineException("interrupted while opening the pipeline");
        }
    }

    private static String describe(Throwable t) {
        Status s = Status.fromThrowable(t);
        return s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
    }

    /** The stream into stage 0. */
    private final class Input implements ClientResponseObserver<StageFrame, StageReply> {
        final Plan.Stage stage;
        final CompletableFuture<Void> handshake = new CompletableFuture<>();
        ClientCallStreamObserver<StageFrame> out;

        Input(Plan.Stage stage) {
            this.stage = stage;
        }

        void hello() {
            out.onNext(StageFrame.newBuilder().setHello(GrpcPipeline.this.hello(stage, StreamRole.STREAM_ROLE_INPUT)).build());
            awaitHello(handshake, stage);
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<StageFrame> r) {
            out = r;
            r.disableAutoRequestWithInitial(1);
            r.setOnReadyHandler(GrpcPipeline.this::drain);
        }

        @Override
        public void onNext(StageReply reply) {
            if (reply.hasHello()) handshake.complete(null);
            out.request(1);
        }

        @Override
        public void onError(Throwable t) {
            String why = "the input stream to " + where(stage) + " failed: " + describe(t);
            if (!handshake.completeExceptionally(new Exception(describe(t)))) fail(why);
        }

        @Override
        public void onCompleted() {
            String why = where(stage) + " closed the input stream";
            if (!handshake.completeExceptionally(new Exception(why))) fail(why);
        }
    }

    /** The stream of results from the last stage. */
    private final class Results implements ClientResponseObserver<StageFrame, StageReply> {
        final Plan.Stage stage;
        final CompletableFuture<Void> handshake = new CompletableFuture<>();
        ClientCallStreamObserver<StageFrame> out;

        Results(Plan.Stage stage) {
            this.stage = stage;
        }

        void hello() {
            out.onNext(StageFrame.newBuilder().setHello(GrpcPipeline.this.hello(stage, StreamRole.STREAM_ROLE_RESULTS)).build());
            awaitHello(handshake, stage);
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<StageFrame> r) {
            out = r;
            r.disableAutoRequestWithInitial(1);
        }

        @Override
        public void onNext(StageReply reply) {
            switch (reply.getKindCase()) {
                case HELLO -> handshake.complete(null);
                case RESULT -> complete(reply.getResult());
                case RELEASED -> {
                    CompletableFuture<Void> f = releases.remove(reply.getReleased().getReleaseId());
                    if (f != null) f.complete(null);
                }
                case KIND_NOT_SET -> { }
            }
            out.request(1);
        }

        @Override
        public void onError(Throwable t) {
            String why = "the results stream from " + where(stage) + " failed: " + describe(t);
            if (!handshake.completeExceptionally(new Exception(describe(t)))) fail(why);
        }

        @Override
        public void onCompleted() {
            String why = where(stage) + " closed the results stream";
            if (!handshake.completeExceptionally(new Exception(why))) fail(why);
        }
    }

    @Override
    public CompletableFuture<StepResult> submit(List<SeqStep> seqs) {
        String b = broken;
        if (b != null) return CompletableFuture.failedFuture(new PipelineException(b));
        long id = ids.incrementAndGet();
        Step.Builder s = Step.newBuilder().setStepId(id);
        int rows = 0;
        for (SeqStep q : seqs) {
            if (q.tokens().length == 0) {
                return CompletableFuture.failedFuture(new IllegalArgumentException("sequence " + q.seqId() + ": a step needs at least one token"));
            }
            SeqChunk.Builder c = SeqChunk.newBuilder().setSeqId(q.seqId()).setStartPosition(q.startPosition())
                    .setRows(q.tokens().length).setSample(q.sample()).setLogprobs(q.logprobs()).setTopLogprobs(q.topLogprobs())
                    .setReturnLogits(q.returnLogits());
            StageSampling p = q.sampling();
            if (p != null && (p.temperature() > 0 || p.penalized())) {
                c.setSampling(SamplingParams.newBuilder().setTemperature(p.temperature()).setTopK(p.topK()).setTopP(p.topP())
                        .setMinP(p.minP()).setSeed(p.seed())
                        .setFrequencyPenalty(p.frequencyPenalty()).setPresencePenalty(p.presencePenalty()));
                for (int t : p.generated()) c.getSamplingBuilder().addGeneratedTokens(t);
            }
            s.addSeqs(c);
            for (int t : q.tokens()) s.addTokens(t);
            rows += q.tokens().length;
        }
        CompletableFuture<StepResult> f = new CompletableFuture<>();
        pending.put(id, new Pending(f, System.nanoTime()));
        send(StageFrame.newBuilder().setStep(s).build());
        b = broken;
        if (b != null && pending.remove(id) != null) f.completeExceptionally(new PipelineException(b));
        return f;
    }

    @Override
    public CompletableFuture<Void> release(long... seqIds) {
        String b = broken;
        if (b != null) return CompletableFuture.failedFuture(new PipelineException(b));
        long id = ids.incrementAndGet();
        CompletableFuture<Void> f = new CompletableFuture<>();
        releases.put(id, f);
        Release.Builder r = Release.newBuilder().setReleaseId(id);
        for (long s : seqIds) r.addSeqIds(s);
        send(StageFrame.newBuilder().setRelease(r).build());
        return f;
    }

    private void send(StageFrame f) {
        synchronized (backlog) {
            if (backlog.isEmpty() && input.out.isReady()) {
                input.out.onNext(f);
            } else {
                backlog.add(f);
            }
        }
    }

    /** Sends what waited for credit; runs on the transport thread when the stream becomes ready. */
    private void drain() {
        synchronized (backlog) {
            while (!backlog.isEmpty() && input.out.isReady() && broken == null) input.out.onNext(backlog.poll());
        }
    }

    private void complete(io.strata.proto.v1.StepResult r) {
        Pending p = pending.remove(r.getStepId());
        if (p == null) return;
        long rtt = System.nanoTime() - p.sentNanos();
        List<SeqOutput> outputs = new ArrayList<>(r.getSeqsCount());
        for (SeqResult s : r.getSeqsList()) {
            int[] top = new int[s.getTopCount()];
            float[] lp = new float[s.getTopCount()];
            for (int i = 0; i < top.length; i++) {
                TokenLogprob t = s.getTop(i);
                top[i] = t.getToken();
                lp[i] = t.getLogprob();
            }
            float[] logits = s.hasLogits() ? floats(s.getLogits()) : null;
            outputs.add(new SeqOutput(s.getSeqId(), s.getToken(), s.getLogprob(), top, lp,
                    s.hasLogits() ? s.getLogits().getRows() : 0, logits));
        }
        List<SeqError> errors = new ArrayList<>(r.getErrorsCount());
        for (io.strata.proto.v1.SeqError e : r.getErrorsList()) errors.add(new SeqError(e.getSeqId(), e.getCode(), e.getMessage()));
        List<StageTime> times = new ArrayList<>(r.getTimingsCount());
        for (StageTiming t : r.getTimingsList()) {
            times.add(new StageTime(t.getStage(), t.getWorkerId(), t.getQueuedNanos(), t.getComputeNanos()));
        }
        p.future().complete(new StepResult(r.getStepId(), outputs, errors, times, rtt));
    }

    private static float[] floats(Matrix m) {
        if (m.getDtype() != DType.DTYPE_F32) throw new PipelineException("logits arrived as " + m.getDtype() + ", expected f32");
        int n = m.getRows() * m.getCols();
        if (m.getData().size() != 4L * n) {
            throw new PipelineException("logits of " + m.getRows() + " x " + m.getCols() + " carry " + m.getData().size() + " bytes");
        }
        float[] out = new float[n];
        MemorySegment.copy(MemorySegment.ofBuffer(m.getData().asReadOnlyByteBuffer()), F32LE, 0, out, 0, n);
        return out;
    }

    /** Breaks the pipeline: every outstanding and later call fails with {@code reason}. Idempotent. */
    public void fail(String reason) {
        synchronized (backlog) {
            if (broken != null) return;
            broken = reason;
            backlog.clear();
        }
        PipelineException e = new PipelineException(reason);
        for (Long id : List.copyOf(pending.keySet())) {
            Pending p = pending.remove(id);
            if (p != null) p.future().completeExceptionally(e);
        }
        for (Long id : List.copyOf(releases.keySet())) {
            CompletableFuture<Void> f = releases.remove(id);
            if (f != null) f.completeExceptionally(e);
        }
        cancel(input == null ? null : input.out, reason);
        cancel(results == null ? null : results.out, reason);
    }

    private static void cancel(ClientCallStreamObserver<StageFrame> s, String reason) {
        if (s == null) return;
        try {
            s.cancel(reason, null);
        } catch (RuntimeException e) {
            // already closed
        }
    }

    @Override
    public int maxInFlight() {
        return 8;
    }

    @Override
    public Info info() {
        return info;
    }

    @Override
    public String brokenReason() {
        return broken;
    }

    public Plan plan() {
        return plan;
    }

    @Override
    public void close() {
        fail("the pipeline for " + plan.describe() + " was closed");
    }
}
