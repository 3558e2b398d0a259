package io.strata.coordinator.zk;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.strata.coordinator.Plan;
import io.strata.coordinator.WorkerInfo;
import io.strata.engine.tensor.GgmlType;
import io.strata.proto.v1.DType;
import io.strata.proto.v1.LayerRange;
import io.strata.proto.v1.ModelRef;
import io.strata.proto.v1.PlanRecord;
import io.strata.proto.v1.PlanStage;
import io.strata.proto.v1.TypeThroughput;
import io.strata.proto.v1.WorkerRecord;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * ZooKeeper node contents: the {@code strata.v1} records in their canonical JSON form (readable with {@code zkCli
 * get}), translated to and from the coordinator's records. Unknown fields are ignored so a newer writer does not
 * break an older reader.
 */
public final class ZkRecords {
    private ZkRecords() {
    }

    public static byte[] json(Message m) {
        try {
            return JsonFormat.printer().print(m).getBytes(StandardCharsets.UTF_8);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }

    public static WorkerRecord workerRecord(byte[] json) throws InvalidProtocolBufferException {
        WorkerRecord.Builder b = WorkerRecord.newBuilder();
        JsonFormat.parser().ignoringUnknownFields().merge(new String(json, StandardCharsets.UTF_8), b);
        return b.build();
    }

    public static PlanRecord planRecord(byte[] json) throws InvalidProtocolBufferException {
        PlanRecord.Builder b = PlanRecord.newBuilder();
        JsonFormat.parser().ignoringUnknownFields().merge(new String(json, StandardCharsets.UTF_8), b);
        return b.build();
    }

    public static WorkerInfo worker(WorkerRecord r) {
        Map<GgmlType, Double> m = new EnumMap<>(GgmlType.class);
        for (TypeThroughput t : r.getMatmulList()) {
            try {
                m.put(GgmlType.valueOf(t.getType()), t.getBytesPerSecond());
            } catch (IllegalArgumentException e) {
                // a type this coordinator does not know: placement estimates it from the bandwidth
            }
        }
        Map<String, Double> perLayer = new java.util.HashMap<>();
        for (io.strata.proto.v1.ModelTiming t : r.getModelsList()) perLayer.put(t.getFingerprint(), t.getSecondsPerLayer());
        return new WorkerInfo(r.getWorkerId(), r.getAddress(), r.getBackend(), r.getUsableMemoryBytes(), r.getTotalMemoryBytes(),
                r.getMemoryBandwidthBytesPerSecond(), Map.copyOf(m), r.getThreads(), r.getCpus(), Map.copyOf(perLayer));
    }

    public static PlanRecord record(Plan p) {
        PlanRecord.Builder b = PlanRecord.newBuilder().setVersion(p.version()).setCoordinator(p.coordinator())
                .setCreatedAtMillis(System.currentTimeMillis()).setModel(model(p)).setContextLength(p.contextLength())
                .setMaxSequences(p.maxSequences()).setKvType(p.kvType()).setActivations(dtype(p.activations()))
                .setMaxBatch(p.maxBatch()).setBottleneckSeconds(p.bottleneckSeconds());
        for (Plan.Stage s : p.stages()) {
            b.addStages(PlanStage.newBuilder().setStage(s.index()).setWorkerId(s.workerId()).setAddress(s.address())
                    .setRange(LayerRange.newBuilder().setFirst(s.first()).setEnd(s.end())).setWeightBytes(s.weightBytes())
                    .setKvBytes(s.kvBytes()).setSecondsPerToken(s.secondsPerToken()));
        }
        return b.build();
    }

    public static ModelRef model(Plan p) {
        ModelRef.Builder m = ModelRef.newBuilder().setFileName(p.fileName()).setFingerprint(p.fingerprint())
                .setChecksums(p.checksums() != null);
        if (p.checksums() != null) {
            for (int c : p.checksums().layers()) m.addLayerCrc32C(c);
            m.setEmbeddingCrc32C(p.checksums().embedding()).setHeadCrc32C(p.checksums().head());
        }
        return m.build();
    }

    public static Plan plan(PlanRecord r) {
        Plan.Checksums sums = null;
        if (r.getModel().getChecksums()) {
            int[] layers = new int[r.getModel().getLayerCrc32CCount()];
            for (int i = 0; i < layers.length; i++) layers[i] = r.getModel().getLayerCrc32C(i);
            sums = new Plan.Checksums(layers, r.getModel().getEmbeddingCrc32C(), r.getModel().getHeadCrc32C());
        }
        List<Plan.Stage> stages = new ArrayList<>();
        for (PlanStage s : r.getStagesList()) {
            stages.add(new Plan.Stage(s.getStage(), s.getWorkerId(), s.getAddress(), s.getRange().getFirst(), s.getRange().getEnd(),
                    s.getWeightBytes(), s.getKvBytes(), s.getSecondsPerToken()));
        }
        return new Plan(r.getVersion(), r.getCoordinator(), r.getModel().getFileName(), r.getModel().getFingerprint(), sums,
                r.getContextLength(), r.getMaxSequences(), r.getKvType(), activations(r.getActivations()), r.getMaxBatch(),
                List.copyOf(stages), r.getBottleneckSeconds());
    }

    public static DType dtype(String activations) {
        return switch (activations) {
            case "f32" -> DType.DTYPE_F32;
            case "f16" -> DType.DTYPE_F16;
            case "bf16" -> DType.DTYPE_BF16;
            default -> throw new IllegalArgumentException("activations must be f32, f16 or bf16, got '" + activations + "'");
        };
    }

    public static String activations(DType d) {
        return switch (d) {
            case DTYPE_F16 -> "f16";
            case DTYPE_BF16 -> "bf16";
            default -> "f32";
        };
    }
}
