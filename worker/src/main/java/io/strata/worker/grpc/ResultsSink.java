package io.strata.worker.grpc;

import io.grpc.stub.ServerCallStreamObserver;
import io.strata.proto.v1.Released;
import io.strata.proto.v1.StageReply;
import io.strata.worker.Frames;
import io.strata.worker.StageOutput;

/** The last stage's output: the coordinator's RESULTS stream. */
final class ResultsSink implements StageOutput, AutoCloseable {
    private final ServerCallStreamObserver<StageReply> out;
    private final ReadyGate gate;
    private final int vocab;
    private final String where;

    /** @param gate signalled by the stream's on-ready and on-cancel handlers (set when the call started) */
    ResultsSink(ServerCallStreamObserver<StageReply> out, ReadyGate gate, int vocab, String where) {
        this.out = out;
        this.gate = gate;
        this.vocab = vocab;
        this.where = where;
    }

    void closedByPeer(String reason) {
        gate.breakWith(reason);
    }

    @Override
    public boolean readyNow() {
        return gate.broken() == null && out.isReady();
    }

    @Override
    public void awaitReady() throws InterruptedException {
        gate.await(out::isReady);
    }

    @Override
    public void forward(Frames.Step step) {
        throw new IllegalStateException(where + " is the last stage: it has no next stage");
    }

    @Override
    public void forward(Frames.Release release) {
        throw new IllegalStateException(where + " is the last stage: it has no next stage");
    }

    @Override
    public synchronized void result(Frames.StepResult result) {
        if (gate.broken() != null) throw new BrokenOutputException(gate.broken());
        out.onNext(StageReply.newBuilder().setResult(Wire.result(result, vocab)).build());
    }

    @Override
    public synchronized void released(Frames.Release release) {
        if (gate.broken() != null) throw new BrokenOutputException(gate.broken());
        Released.Builder b = Released.newBuilder().setReleaseId(release.releaseId());
        for (long id : release.seqIds()) b.addSeqIds(id);
        out.onNext(StageReply.newBuilder().setReleased(b).build());
    }

    @Override
    public synchronized void close() {
        if (gate.broken() == null) {
            gate.breakWith("the results stream of " + where + " was replaced or closed");
            try {
                out.onCompleted();
            } catch (RuntimeException e) {
                // already cancelled
            }
        }
    }
}
