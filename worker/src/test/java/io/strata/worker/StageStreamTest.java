package io.strata.worker;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.strata.engine.backend.KvCache;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Stage;
import io.strata.engine.model.Step;
import io.strata.engine.testing.Fixtures;
import io.strata.proto.v1.Hello;
import io.strata.proto.v1.LayerRange;
import io.strata.proto.v1.ModelRef;
import io.strata.proto.v1.ProtocolVersion;
import io.strata.proto.v1.SeqChunk;
import io.strata.proto.v1.StageAssignment;
import io.strata.proto.v1.StageFrame;
import io.strata.proto.v1.StageReply;
import io.strata.proto.v1.StageServiceGrpc;
import io.strata.proto.v1.StageState;
import io.strata.proto.v1.StatusRequest;
import io.strata.proto.v1.StreamRole;
import io.strata.proto.v1.WorkerControlGrpc;
import io.strata.proto.v1.WorkerStatus;
import io.strata.worker.grpc.Channels;
import io.strata.worker.grpc.Wire;
import io.strata.worker.grpc.WorkerServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two stage runtimes in this JVM, each with its own gRPC server on loopback, driven through the real protocol:
 * handshake rules, load refusals, and a split forward that must equal the single-process stage bit for bit.
 * (The multi-process tests with ZooKeeper and the coordinator live in the coordinator module.)
 */
class StageStreamTest {
    static final Path MODEL = Fixtures.path("small/small-Q4_0.gguf");
    static final int[] PROMPT = {1, 17, 42, 99, 3, 250, 7, 64};

    record Node(StageSlot slot, WorkerServer server, ManagedChannel channel) {
    }

    final List<Node> nodes = new ArrayList<>();
    String fingerprint;
    ModelConfig cfg;

    @BeforeEach
    void open() {
        try (GgufFile f = GgufFile.open(MODEL)) {
            fingerprint = f.fingerprint();
            cfg = ModelConfig.from(f);
        }
    }

    @AfterEach
    void close() {
        for (Node n : nodes) {
            n.channel().shutdownNow();
            n.server().close();
            n.slot().close();
        }
    }

    Node start(String id, long budget) throws Exception {
        WorkerServer[] holder = new WorkerServer[1];
        StageSlot slot = new StageSlot(id, new CpuBackend(1), new ShardLoader(id, MODEL.getParent(), budget),
                (a, b) -> holder[0].connect(a, b), 2 * WorkerServer.WINDOW + 2);
        WorkerServer server = new WorkerServer(id, slot);
        holder[0] = server;
        server.start("127.0.0.1", 0, "127.0.0.1");
        Node n = new Node(slot, server, Channels.build(server.address()));
        nodes.add(n);
        return n;
    }

    WorkerControlGrpc.WorkerControlBlockingStub control(Node n) {
        var stub = WorkerControlGrpc.newBlockingStub(n.channel()).withDeadlineAfter(10, TimeUnit.SECONDS);
        stub.hello(Hello.newBuilder().setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE).setCaller("test").build());
        return stub;
    }

    StageAssignment assignment(int stage, int stages, int first, int end, Node next, int nextEnd) {
        StageAssignment.Builder b = StageAssignment.newBuilder().setPlanVersion(1).setStage(stage).setStages(stages)
                .setModel(ModelRef.newBuilder().setFileName(MODEL.getFileName().toString()).setFingerprint(fingerprint))
                .setRange(LayerRange.newBuilder().setFirst(first).setEnd(end)).setContextLength(64).setMaxSequences(2)
                .setKvType("f32").setMaxBatch(16);
        if (next != null) {
            b.setNextAddress(next.server().address()).setNextWorkerId("next").setNextRange(LayerRange.newBuilder().setFirst(end).setEnd(nextEnd));
        }
        return b.build();
    }

    /** Waits (with a deadline) on the worker's Watch stream for a state, failing with the last status seen. */
    static WorkerStatus await(Node n, StageState want) {
        var stub = WorkerControlGrpc.newBlockingStub(n.channel()).withDeadlineAfter(30, TimeUnit.SECONDS);
        stub.hello(Hello.newBuilder().setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE).build());
        Iterator<WorkerStatus> it = stub.watch(StatusRequest.getDefaultInstance());
        WorkerStatus last = null;
        while (it.hasNext()) {
            last = it.next();
            if (last.getState() == want) return last;
            if (last.getState() == StageState.STAGE_STATE_FAILED && want != StageState.STAGE_STATE_FAILED) {
                throw new AssertionError("worker failed: " + last.getError());
            }
        }
        throw new AssertionError("watch ended; last status " + last);
    }

    @Test
    void controlCallsBeforeHelloAreRefused() throws Exception {
        Node n = start("w0", 1L << 30);
        var stub = WorkerControlGrpc.newBlockingStub(n.channel());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.status(StatusRequest.getDefaultInstance()));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("before Hello"), e.getStatus().getDescription());
        StatusRuntimeException v = assertThrows(StatusRuntimeException.class,
                () -> stub.hello(Hello.newBuilder().setProtocolVersion(99).setCaller("old-coordinator").build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, v.getStatus().getCode());
        assertTrue(v.getStatus().getDescription().contains("speaks protocol version 1 but old-coordinator speaks 99"), v.getStatus().getDescription());
        assertEquals(StageState.STAGE_STATE_IDLE, control(n).status(StatusRequest.getDefaultInstance()).getState());
    }

    @Test
    void loadRefusalsNameTheReason() throws Exception {
        Node n = start("w0", 1L << 30);
        var c = control(n);
        var missing = assertThrows(StatusRuntimeException.class, () -> c.assign(assignment(0, 1, 0, 4, null, 0).toBuilder()
                .setModel(ModelRef.newBuilder().setFileName("absent.gguf").setFingerprint(fingerprint)).build()));
        assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode());
        assertTrue(missing.getStatus().getDescription().contains("absent.gguf not found"), missing.getStatus().getDescription());

        var wrong = assertThrows(StatusRuntimeException.class, () -> c.assign(assignment(0, 1, 0, 4, null, 0).toBuilder()
                .setModel(ModelRef.newBuilder().setFileName(MODEL.getFileName().toString()).setFingerprint("ab".repeat(32))).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, wrong.getStatus().getCode());
        assertTrue(wrong.getStatus().getDescription().contains("checksum mismatch"), wrong.getStatus().getDescription());
        WorkerStatus s = c.status(StatusRequest.getDefaultInstance());
        assertEquals(StageState.STAGE_STATE_FAILED, s.getState());
        assertTrue(s.getError().contains("checksum mismatch"), s.getError());

        Node small = start("w-small", 256 << 10);
        var memory = assertThrows(StatusRuntimeException.class, () -> control(small).assign(assignment(0, 1, 0, 4, null, 0)));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, memory.getStatus().getCode());
        assertTrue(memory.getStatus().getDescription().matches(".*not enough memory: needs .* of weights .* budget is 256 KiB.*"),
                memory.getStatus().getDescription());

        // A data checksum that does not match fails the load asynchronously, and the status says where.
        int[] crcs = new int[cfg.layers()];
        var bad = assignment(0, 1, 0, 4, null, 0).toBuilder();
        bad.setModel(bad.getModel().toBuilder().setChecksums(true).addAllLayerCrc32C(java.util.Arrays.stream(crcs).boxed().toList()));
        c.assign(bad.build());
        WorkerStatus failed = await(n, StageState.STAGE_STATE_FAILED);
        assertTrue(failed.getError().contains("checksum mismatch in the embedding") || failed.getError().contains("checksum mismatch in layer 0"),
                failed.getError());
    }

    @Test
    void twoStagesOverLoopbackEqualOneProcessBitForBit() throws Exception {
        Node w0 = start("w0", 1L << 30);
        Node w1 = start("w1", 1L << 30);
        control(w1).assign(assignment(1, 2, 1, 4, null, 0));
        control(w0).assign(assignment(0, 2, 0, 1, w1, 4));
        await(w1, StageState.STAGE_STATE_READY);
        await(w0, StageState.STAGE_STATE_READY);

        // Handshake mismatch on a stage stream: expecting another range is refused with both sides named.
        Client wrongRange = new Client(w1, LayerRange.newBuilder().setFirst(2).setEnd(4).build(), StreamRole.STREAM_ROLE_INPUT);
        Throwable refused = wrongRange.handshake();
        assertNotNull(refused);
        assertTrue(Status.fromThrowable(refused).getDescription().contains("holds layers [1, 4)"), refused.toString());

        Client results = new Client(w1, LayerRange.newBuilder().setFirst(1).setEnd(4).build(), StreamRole.STREAM_ROLE_RESULTS);
        assertEquals(null, results.handshake());
        Client input = new Client(w0, LayerRange.newBuilder().setFirst(0).setEnd(1).build(), StreamRole.STREAM_ROLE_INPUT);
        assertEquals(null, input.handshake());

        io.strata.proto.v1.Step.Builder step = io.strata.proto.v1.Step.newBuilder().setStepId(7)
                .addSeqs(SeqChunk.newBuilder().setSeqId(5).setStartPosition(0).setRows(PROMPT.length).setSample(true).setReturnLogits(true));
        for (int t : PROMPT) step.addTokens(t);
        input.send(StageFrame.newBuilder().setStep(step).build());
        StageReply r = results.next();
        assertEquals(7, r.getResult().getStepId());
        assertEquals(0, r.getResult().getErrorsCount(), r.getResult().getErrorsList().toString());
        // w0 warmed its link before it reported READY, on the stream step 7 then took: by now w1 has decoded those
        // frames, and computed none of them.
        WorkerStatus afterFirst = control(w1).status(StatusRequest.getDefaultInstance());
        assertTrue(afterFirst.getWarmupFrames() > 0, "w1 received no warm-up frames");
        assertEquals(1, afterFirst.getSteps());
        float[] got = Wire.decode(r.getResult().getSeqs(0).getLogits(), "logits");
        assertEquals(2, r.getResult().getTimingsCount());

        float[] want = new float[PROMPT.length * cfg.vocab()];
        try (GgufFile f = GgufFile.open(MODEL); CpuBackend be = new CpuBackend(1)) {
            Stage s = Stage.load(f, cfg, 0, cfg.layers(), be, 16);
            KvCache cache = s.newCache(64, KvType.F32);
            s.forward(Step.ofSequence(PROMPT, 0, cache, true), want);
            cache.close();
        }
        assertArrayEquals(want, got);
        int argmax = 0;
        int off = (PROMPT.length - 1) * cfg.vocab();
        for (int i = 1; i < cfg.vocab(); i++) if (want[off + i] > want[off + argmax]) argmax = i;
        assertEquals(argmax, r.getResult().getSeqs(0).getToken());

        // A sequence the stages do not know, continued past position 0, fails alone with a reason naming the stage.
        input.send(StageFrame.newBuilder().setStep(io.strata.proto.v1.Step.newBuilder().setStepId(8)
                .addSeqs(SeqChunk.newBuilder().setSeqId(99).setStartPosition(3).setRows(1).setSample(true)).addTokens(1)).build());
        StageReply e = results.next();
        assertEquals(8, e.getResult().getStepId());
        assertEquals(1, e.getResult().getErrorsCount());
        assertTrue(e.getResult().getErrors(0).getMessage().contains("sequence 99 is unknown here"), e.getResult().getErrors(0).getMessage());
        assertTrue(e.getResult().getErrors(0).getMessage().contains("stage 0 (layers [0, 1) on worker w0)"), e.getResult().getErrors(0).getMessage());

        // Releasing frees the KV on every stage and is acknowledged by the last.
        input.send(StageFrame.newBuilder().setRelease(io.strata.proto.v1.Release.newBuilder().setReleaseId(3).addSeqIds(5)).build());
        assertEquals(3, results.next().getReleased().getReleaseId());
        assertEquals(0, control(w0).status(StatusRequest.getDefaultInstance()).getActiveSequences());
        assertEquals(0, control(w1).status(StatusRequest.getDefaultInstance()).getActiveSequences());
    }

    @Test
    void warmupFramesAreCheckedAndDroppedWithoutCompute() throws Exception {
        Node w1 = start("w1", 1L << 30);
        control(w1).assign(assignment(1, 2, 1, 4, null, 0));
        await(w1, StageState.STAGE_STATE_READY);
        LayerRange range = LayerRange.newBuilder().setFirst(1).setEnd(4).build();
        Client results = new Client(w1, range, StreamRole.STREAM_ROLE_RESULTS);
        assertEquals(null, results.handshake());
        Client input = new Client(w1, range, StreamRole.STREAM_ROLE_INPUT);
        assertEquals(null, input.handshake());

        // 50 warm-up frames of 1-3 rows for sequence 0, then a real prefill of sequence 0 from position 0: had any
        // warm-up been computed, sequence 0 would already hold rows and the step would fail or give other logits.
        int dim = cfg.dim();
        java.util.SplittableRandom random = new java.util.SplittableRandom(3);
        float[] values = new float[4 * dim];
        for (int i = 0; i < values.length; i++) values[i] = (float) random.nextGaussian();
        int warmups = 50;
        for (int i = 0; i < warmups; i++) {
            int rows = 1 + i % 3;
            input.send(StageFrame.newBuilder().setStep(io.strata.proto.v1.Step.newBuilder().setStepId(i).setWarmup(true)
                    .addSeqs(SeqChunk.newBuilder().setSeqId(0).setStartPosition(0).setRows(rows).setSample(true))
                    .setHidden(Wire.encode(values, rows, dim, ActivationType.F32))).build());
        }
        input.send(StageFrame.newBuilder().setStep(io.strata.proto.v1.Step.newBuilder().setStepId(100)
                .addSeqs(SeqChunk.newBuilder().setSeqId(0).setStartPosition(0).setRows(4).setSample(true).setReturnLogits(true))
                .setHidden(Wire.encode(values, 4, dim, ActivationType.F32))).build());
        StageReply r = results.next();
        assertEquals(100, r.getResult().getStepId(), "the first result must be the real step's");
        assertEquals(0, r.getResult().getErrorsCount(), r.getResult().getErrorsList().toString());
        WorkerStatus status = control(w1).status(StatusRequest.getDefaultInstance());
        assertEquals(warmups, status.getWarmupFrames());
        assertEquals(1, status.getSteps());

        float[] want = new float[4 * cfg.vocab()];
        try (GgufFile f = GgufFile.open(MODEL); CpuBackend be = new CpuBackend(1)) {
            Stage s = Stage.load(f, cfg, 1, 4, be, 16);
            KvCache cache = s.newCache(64, KvType.F32);
            s.forward(new Step(4, null, values, new int[]{0, 1, 2, 3}, new KvCache[]{cache, cache, cache, cache},
                    new int[]{0, 1, 2, 3}), want);
            cache.close();
        }
        assertArrayEquals(want, Wire.decode(r.getResult().getSeqs(0).getLogits(), "logits"));

        // A warm-up frame is checked as any step: one whose matrix is narrower than the stage fails the stream.
        input.send(StageFrame.newBuilder().setStep(io.strata.proto.v1.Step.newBuilder().setStepId(101).setWarmup(true)
                .addSeqs(SeqChunk.newBuilder().setSeqId(0).setStartPosition(0).setRows(1))
                .setHidden(Wire.encode(values, 1, dim - 1, ActivationType.F32))).build());
        Object o = input.replies.poll(30, TimeUnit.SECONDS);
        assertTrue(o instanceof Throwable, "a malformed warm-up frame must fail the stream, got " + o);
        Status bad = Status.fromThrowable((Throwable) o);
        assertEquals(Status.Code.INVALID_ARGUMENT, bad.getCode());
        assertTrue(bad.getDescription().contains("hidden is 1 x " + (dim - 1)), bad.getDescription());
        assertEquals(1, control(w1).status(StatusRequest.getDefaultInstance()).getSteps());
    }

    /** A raw stage-stream client with manual flow control on its replies. */
    final class Client implements ClientResponseObserver<StageFrame, StageReply> {
        final BlockingQueue<Object> replies = new LinkedBlockingQueue<>();
        ClientCallStreamObserver<StageFrame> out;

        Client(Node n, LayerRange expected, StreamRole role) {
            StageServiceGrpc.newStub(n.channel()).stream(this);
            out.onNext(StageFrame.newBuilder().setHello(Hello.newBuilder().setProtocolVersion(ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE)
                    .setModelFingerprint(fingerprint).setExpected(expected).setPlanVersion(1).setCaller("test").setRole(role)).build());
        }

        Throwable handshake() throws InterruptedException {
            Object o = replies.poll(10, TimeUnit.SECONDS);
            if (o instanceof Throwable t) return t;
            assertNotNull(o, "no Hello reply");
            return null;
        }

        StageReply next() throws InterruptedException {
            Object o = replies.poll(30, TimeUnit.SECONDS);
            if (o instanceof Throwable t) throw new AssertionError("stream failed", t);
            assertNotNull(o, "no reply within 30 s");
            return (StageReply) o;
        }

        void send(StageFrame f) {
            out.onNext(f);
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<StageFrame> r) {
            out = r;
            r.disableAutoRequestWithInitial(1);
        }

        @Override
        public void onNext(StageReply value) {
            replies.add(value);
            out.request(1);
        }

        @Override
        public void onError(Throwable t) {
            replies.add(t);
        }

        @Override
        public void onCompleted() {
            replies.add(new IllegalStateException("completed"));
        }
    }
}
