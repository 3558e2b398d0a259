package io.strata.worker.grpc;

import io.strata.engine.sample.StageSampling;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.strata.engine.backend.KvType;
import io.strata.proto.v1.DType;
import io.strata.proto.v1.LayerRange;
import io.strata.proto.v1.Matrix;
import io.strata.proto.v1.SamplingParams;
import io.strata.proto.v1.SeqChunk;
import io.strata.proto.v1.SeqError;
import io.strata.proto.v1.SeqResult;
import io.strata.proto.v1.StageAssignment;
import io.strata.proto.v1.StageTiming;
import io.strata.proto.v1.StepResult;
import io.strata.proto.v1.TokenLogprob;
import io.strata.worker.ActivationType;
import io.strata.worker.Assignment;
import io.strata.worker.Frames;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/** Translation between {@code strata.v1} messages and the worker's records, and the activation codec. */
public final class Wire {
    private static final ValueLayout.OfFloat F32LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Wire() {
    }

    // ---- activations

    /** {@code rows x cols} floats as little-endian {@code type} values. */
    public static Matrix encode(float[] values, int rows, int cols, ActivationType type) {
        int n = rows * cols;
        byte[] bytes = new byte[n * type.bytes];
        MemorySegment dst = MemorySegment.ofArray(bytes);
        switch (type) {
            case F32 -> MemorySegment.copy(values, 0, dst, F32LE, 0, n);
            case F16 -> {
                for (int i = 0; i < n; i++) dst.set(U16LE, 2L * i, Float.floatToFloat16(values[i]));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) dst.set(U16LE, 2L * i, toBf16(values[i]));
            }
        }
        return Matrix.newBuilder().setDtype(dtype(type)).setRows(rows).setCols(cols)
                .setData(UnsafeByteOperations.unsafeWrap(bytes)).build();
    }

    /** The values of a matrix as f32; checks the byte count against dtype and shape. */
    public static float[] decode(Matrix m, String what) {
        ActivationType type = activationType(m.getDtype(), what);
        long n = (long) m.getRows() * m.getCols();
        ByteString data = m.getData();
        if (data.size() != n * type.bytes) {
            throw new IllegalArgumentException(what + ": " + m.getRows() + " x " + m.getCols() + " " + type + " needs "
                    + n * type.bytes + " bytes but the frame carries " + data.size());
        }
        float[] out = new float[(int) n];
        MemorySegment src = MemorySegment.ofBuffer(data.asReadOnlyByteBuffer());
        switch (type) {
            case F32 -> MemorySegment.copy(src, F32LE, 0, out, 0, (int) n);
            case F16 -> {
                for (int i = 0; i < n; i++) out[i] = Float.float16ToFloat(src.get(U16LE, 2L * i));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((src.get(U16LE, 2L * i) & 0xffff) << 16);
            }
        }
        return out;
    }

    /** bfloat16 of {@code f}, rounding to nearest even; NaN stays NaN. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    public static DType dtype(ActivationType t) {
        return switch (t) {
            case F32 -> DType.DTYPE_F32;
            case F16 -> DType.DTYPE_F16;
            case BF16 -> DType.DTYPE_BF16;
        };
    }

    public static ActivationType activationType(DType d, String what) {
        return switch (d) {
            case DTYPE_F32 -> ActivationType.F32;
            case DTYPE_F16 -> ActivationType.F16;
            case DTYPE_BF16 -> ActivationType.BF16;
            case DTYPE_UNSPECIFIED, UNRECOGNIZED -> throw new IllegalArgumentException(what + ": unknown activation dtype " + d);
        };
    }

    // ---- steps

    public static Frames.Step step(io.strata.proto.v1.Step s, boolean first, int dim, long arrived) {
        List<Frames.Chunk> chunks = new ArrayList<>(s.getSeqsCount());
        int rows = 0;
        for (SeqChunk c : s.getSeqsList()) {
            chunks.add(new Frames.Chunk(c.getSeqId(), c.getStartPosition(), c.getRows(), c.getSample(),
                    sampling(c.getSampling()), c.getLogprobs(), c.getTopLogprobs(), c.getReturnLogits()));
            rows += c.getRows();
        }
        int[] tokens = null;
        float[] hidden = null;
        String what = "step " + s.getStepId();
        if (first) {
            if (s.getTokensCount() != rows) {
                throw new IllegalArgumentException(what + ": " + rows + " rows but " + s.getTokensCount() + " token ids");
            }
            tokens = new int[rows];
            for (int i = 0; i < rows; i++) tokens[i] = s.getTokens(i);
        } else {
            if (rows > 0 || s.hasHidden()) {
                Matrix m = s.getHidden();
                if (m.getRows() != rows || m.getCols() != dim) {
                    throw new IllegalArgumentException(what + ": hidden is " + m.getRows() + " x " + m.getCols() + " but the step has "
                            + rows + " rows of width " + dim);
                }
                hidden = decode(m, what);
            } else {
                hidden = new float[0];
            }
        }
        List<Frames.SeqFailure> failures = new ArrayList<>(s.getErrorsCount());
        for (SeqError e : s.getErrorsList()) failures.add(new Frames.SeqFailure(e.getSeqId(), e.getCode(), e.getMessage()));
        return new Frames.Step(s.getStepId(), chunks, tokens, hidden, failures, timings(s.getTimingsList()), arrived);
    }

    public static io.strata.proto.v1.Step step(Frames.Step s, int dim, ActivationType type) {
        return step(s, dim, type, false);
    }

    /** The step as a message; {@code warmup} marks a warm-up frame (stage.proto), which the receiver drops. */
    public static io.strata.proto.v1.Step step(Frames.Step s, int dim, ActivationType type, boolean warmup) {
        io.strata.proto.v1.Step.Builder b = io.strata.proto.v1.Step.newBuilder().setStepId(s.stepId());
        if (warmup) b.setWarmup(true);
        int rows = 0;
        for (Frames.Chunk c : s.chunks()) {
            b.addSeqs(chunk(c));
            rows += c.rows();
        }
        if (s.tokens() != null) {
            for (int i = 0; i < rows; i++) b.addTokens(s.tokens()[i]);
        } else {
            b.setHidden(encode(s.hidden(), rows, dim, type));
        }
        for (Frames.SeqFailure f : s.failures()) b.addErrors(error(f));
        for (Frames.Timing t : s.timings()) b.addTimings(timing(t));
        return b.build();
    }

    static SeqChunk chunk(Frames.Chunk c) {
        SeqChunk.Builder b = SeqChunk.newBuilder().setSeqId(c.seqId()).setStartPosition(c.start()).setRows(c.rows())
                .setSample(c.sample()).setLogprobs(c.logprobs()).setTopLogprobs(c.topLogprobs()).setReturnLogits(c.returnLogits());
        if (c.sampling() != null && (!c.sampling().greedy() || c.sampling().penalized())) {
            StageSampling p = c.sampling();
            b.setSampling(SamplingParams.newBuilder().setTemperature(p.temperature()).setTopK(p.topK()).setTopP(p.topP())
                    .setMinP(p.minP()).setSeed(p.seed())
                    .setFrequencyPenalty(p.frequencyPenalty()).setPresencePenalty(p.presencePenalty()));
            for (int t : p.generated()) b.getSamplingBuilder().addGeneratedTokens(t);
        }
        return b.build();
    }

    static StageSampling sampling(SamplingParams p) {
        if (p.getTemperature() <= 0f && p.getFrequencyPenalty() == 0f && p.getPresencePenalty() == 0f) return StageSampling.GREEDY;
        int[] generated = new int[p.getGeneratedTokensCount()];
        for (int i = 0; i < generated.length; i++) generated[i] = p.getGeneratedTokens(i);
        return new StageSampling(p.getTemperature(), p.getTopK(), p.getTopP(), p.getMinP(), p.getSeed(),
                p.getFrequencyPenalty(), p.getPresencePenalty(), generated);
    }

    static SeqError error(Frames.SeqFailure f) {
        return SeqError.newBuilder().setSeqId(f.seqId()).setCode(f.code()).setMessage(f.message()).build();
    }

    static StageTiming timing(Frames.Timing t) {
        return StageTiming.newBuilder().setStage(t.stage()).setWorkerId(t.workerId()).setQueuedNanos(t.queuedNanos())
                .setComputeNanos(t.computeNanos()).build();
    }

    static List<Frames.Timing> timings(List<StageTiming> list) {
        List<Frames.Timing> out = new ArrayList<>(list.size() + 1);
        for (StageTiming t : list) out.add(new Frames.Timing(t.getStage(), t.getWorkerId(), t.getQueuedNanos(), t.getComputeNanos()));
        return out;
    }

    public static StepResult result(Frames.StepResult r, int vocab) {
        StepResult.Builder b = StepResult.newBuilder().setStepId(r.stepId());
        for (Frames.SeqOutput o : r.outputs()) {
            SeqResult.Builder s = SeqResult.newBuilder().setSeqId(o.seqId()).setToken(o.token()).setLogprob(o.logprob());
            for (int i = 0; i < o.topTokens().length; i++) {
                s.addTop(TokenLogprob.newBuilder().setToken(o.topTokens()[i]).setLogprob(o.topLogprobs()[i]));
            }
            if (o.logits() != null) s.setLogits(encode(o.logits(), o.logitRows(), vocab, ActivationType.F32));
            b.addSeqs(s);
        }
        for (Frames.SeqFailure f : r.failures()) b.addErrors(error(f));
        for (Frames.Timing t : r.timings()) b.addTimings(timing(t));
        return b.build();
    }

    public static Frames.Release release(io.strata.proto.v1.Release r) {
        long[] ids = new long[r.getSeqIdsCount()];
        for (int i = 0; i < ids.length; i++) ids[i] = r.getSeqIds(i);
        return new Frames.Release(r.getReleaseId(), ids, r.getAll());
    }

    public static io.strata.proto.v1.Release release(Frames.Release r) {
        io.strata.proto.v1.Release.Builder b = io.strata.proto.v1.Release.newBuilder().setReleaseId(r.releaseId()).setAll(r.all());
        for (long id : r.seqIds()) b.addSeqIds(id);
        return b.build();
    }

    // ---- assignments

    public static Assignment assignment(StageAssignment a) {
        String what = "assignment";
        if (!a.hasModel() || a.getModel().getFileName().isEmpty()) throw new IllegalArgumentException(what + ": model.file_name is empty");
        if (a.getModel().getFingerprint().isEmpty()) throw new IllegalArgumentException(what + ": model.fingerprint is empty");
        if (!a.hasRange()) throw new IllegalArgumentException(what + ": range is missing");
        if (a.getContextLength() == 0) throw new IllegalArgumentException(what + ": context_length must be positive");
        if (a.getMaxSequences() == 0) throw new IllegalArgumentException(what + ": max_sequences must be positive");
        if (a.getMaxBatch() == 0) throw new IllegalArgumentException(what + ": max_batch must be positive");
        Assignment.Checksums sums = null;
        if (a.getModel().getChecksums()) {
            int[] layers = new int[a.getModel().getLayerCrc32CCount()];
            for (int i = 0; i < layers.length; i++) layers[i] = a.getModel().getLayerCrc32C(i);
            if (layers.length < a.getRange().getEnd()) {
                throw new IllegalArgumentException(what + ": layer_crc32c has " + layers.length + " entries, the range ends at " + a.getRange().getEnd());
            }
            sums = new Assignment.Checksums(layers, a.getModel().getEmbeddingCrc32C(), a.getModel().getHeadCrc32C());
        }
        Assignment.Next next = a.getNextAddress().isEmpty() ? null
                : new Assignment.Next(a.getNextAddress(), a.getNextWorkerId(), a.getNextRange().getFirst(), a.getNextRange().getEnd());
        return new Assignment(a.getPlanVersion(), a.getStage(), a.getStages(), a.getModel().getFileName(), a.getModel().getFingerprint(),
                sums, a.getRange().getFirst(), a.getRange().getEnd(), next, a.getContextLength(), a.getMaxSequences(),
                KvType.parse(a.getKvType().isEmpty() ? "f16" : a.getKvType()),
                a.getActivations() == DType.DTYPE_UNSPECIFIED ? ActivationType.F32 : activationType(a.getActivations(), what),
                a.getMaxBatch());
    }

    public static StageAssignment assignment(Assignment a) {
        io.strata.proto.v1.ModelRef.Builder m = io.strata.proto.v1.ModelRef.newBuilder().setFileName(a.fileName())
                .setFingerprint(a.fingerprint()).setChecksums(a.checksums() != null);
        if (a.checksums() != null) {
            for (int c : a.checksums().layers()) m.addLayerCrc32C(c);
            m.setEmbeddingCrc32C(a.checksums().embedding()).setHeadCrc32C(a.checksums().head());
        }
        StageAssignment.Builder b = StageAssignment.newBuilder().setPlanVersion(a.planVersion()).setStage(a.stage())
                .setStages(a.stages()).setModel(m).setRange(range(a.first(), a.end())).setContextLength(a.contextLength())
                .setMaxSequences(a.maxSequences()).setKvType(a.kvType().name().toLowerCase(java.util.Locale.ROOT))
                .setActivations(dtype(a.activations())).setMaxBatch(a.maxBatch());
        if (a.next() != null) {
            b.setNextAddress(a.next().address()).setNextWorkerId(a.next().workerId()).setNextRange(range(a.next().first(), a.next().end()));
        }
        return b.build();
    }

    public static LayerRange range(int first, int end) {
        return LayerRange.newBuilder().setFirst(first).setEnd(end).build();
    }
}
