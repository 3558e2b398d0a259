package io.strata.coordinator.placement;

import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.ModelShards;
import io.strata.engine.gguf.TensorInfo;
import io.strata.engine.model.ModelConfig;
import io.strata.engine.model.Synth;
import io.strata.engine.tensor.GgmlType;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * What placement needs to know about a model served with given limits: bytes of each layer's weights (and per
 * weight type, to turn a worker's measured throughputs into seconds), of the embedding and the head, of the KV cache
 * per layer, and of each stage's activation buffers. Built from a GGUF header alone (no tensor data is read), or
 * from literals in tests.
 *
 * @param layerBytes         weights of layer {@code l}
 * @param layerBytesByType   weights of layer {@code l} per ggml type
 * @param embeddingBytes     {@code token_embd} (read by the first stage)
 * @param headBytes          output norm and output matrix (read by the last stage; the embedding again when tied)
 * @param headBytesByType    the head's bytes per ggml type
 * @param tied               the head is the embedding (a single-stage plan reads it once)
 * @param kvBytesPerPosition K and V of one position of one layer
 * @param activationRowBytes a stage's activation buffers per row of {@code maxBatch}
 * @param headActivationBytes extra buffers of the last stage (normed rows and logits)
 */
public record ModelProfile(String name, int layers, long[] layerBytes, List<Map<GgmlType, Long>> layerBytesByType,
                           long embeddingBytes, long headBytes, Map<GgmlType, Long> headBytesByType, boolean tied,
                           long kvBytesPerPosition, long activationRowBytes, long headActivationBytes,
                           int contextLength, int maxSequences, String kvType, int maxBatch) {

    /** The profile of a GGUF model served with {@code maxSequences} sequences of {@code contextLength} positions. */
    public static ModelProfile of(String name, GgufFile file, int contextLength, int maxSequences, String kvType, int maxBatch) {
        ModelConfig c = ModelConfig.from(file);
        int kvBytes = kvBytes(kvType);
        long[] bytes = new long[c.layers()];
        List<Map<GgmlType, Long>> byType = new java.util.ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            List<TensorInfo> t = ModelShards.layer(file, l);
            bytes[l] = ModelShards.bytes(t);
            byType.add(byType(t));
        }
        List<TensorInfo> head = ModelShards.head(file);
        long rowBytes = 4L * (3L * c.dim() + 2L * c.qDim() + 2L * c.kvDim() + 2L * c.ffn());
        return new ModelProfile(name, c.layers(), bytes, List.copyOf(byType), ModelShards.bytes(ModelShards.embedding(file)),
                ModelShards.bytes(head), byType(head), !file.hasTensor("output.weight"), 2L * c.kvDim() * kvBytes, rowBytes,
                4L * 16 * (c.dim() + c.vocab()), contextLength, maxSequences, kvType, maxBatch);
    }

    /**
     * The profile of a model known only by its shapes (a {@link Synth} preset, e.g. {@code llama-3.1-405b}) with
     * matrices of {@code type}: size a fleet without the file.
     */
    public static ModelProfile ofPreset(Synth.Preset preset, GgmlType type, int contextLength, int maxSequences, String kvType,
                                        int maxBatch) {
        int kvBytes = kvBytes(kvType);
        long[] bytes = new long[preset.layers()];
        List<Map<GgmlType, Long>> byType = new java.util.ArrayList<>();
        for (int l = 0; l < preset.layers(); l++) byType.add(new EnumMap<>(GgmlType.class));
        long embedding = 0;
        long head = 0;
        Map<GgmlType, Long> headByType = new EnumMap<>(GgmlType.class);
        for (Synth.TensorSpec t : Synth.tensors(preset, type)) {
            if (t.layer() >= 0) {
                bytes[t.layer()] += t.bytes();
                byType.get(t.layer()).merge(t.type(), t.bytes(), Long::sum);
            } else if (t.name().equals("token_embd.weight")) {
                embedding = t.bytes();
                if (preset.tiedEmbeddings()) {
                    head += t.bytes();
                    headByType.merge(t.type(), t.bytes(), Long::sum);
                }
            } else if (t.name().equals("output_norm.weight") || t.name().equals("output.weight")) {
                head += t.bytes();
                headByType.merge(t.type(), t.bytes(), Long::sum);
            }
        }
        int hd = preset.headDim();
        int q = preset.heads() * hd;
        int kv = preset.kvHeads() * hd;
        long rowBytes = 4L * (3L * preset.dim() + 2L * q + 2L * kv + 2L * preset.ffn());
        return new ModelProfile(preset.name() + " " + type, preset.layers(), bytes, List.copyOf(byType), embedding, head, headByType,
                preset.tiedEmbeddings(), 2L * kv * kvBytes, rowBytes, 4L * 16 * (preset.dim() + preset.vocab()), contextLength,
                maxSequences, kvType, maxBatch);
    }

    private static int kvBytes(String kvType) {
        return switch (kvType) {
            case "f32" -> 4;
            case "f16" -> 2;
            default -> throw new IllegalArgumentException("KV cache type must be f32 or f16, got '" + kvType + "'");
        };
    }

    private static Map<GgmlType, Long> byType(List<TensorInfo> tensors) {
        Map<GgmlType, Long> m = new EnumMap<>(GgmlType.class);
        for (TensorInfo t : tensors) m.merge(t.type(), t.bytes(), Long::sum);
        return m;
    }

    /** Weights a stage of layers {@code [first, end)} reads (as {@link ModelShards#stage}). */
    public long weightBytes(int first, int end) {
        long n = 0;
        for (int l = first; l < end; l++) n += layerBytes[l];
        if (first == 0) n += embeddingBytes;
        if (end == layers) n += (tied && first == 0) ? headBytes - embeddingBytes : headBytes;
        return n;
    }

    public long kvBytes(int first, int end) {
        return (long) maxSequences * contextLength * (end - first) * kvBytesPerPosition;
    }

    public long activationBytes(boolean last) {
        return (long) maxBatch * activationRowBytes + (last ? headActivationBytes : 0);
    }

    /** Everything a stage of layers {@code [first, end)} holds in memory. */
    public long stageBytes(int first, int end) {
        return weightBytes(first, end) + kvBytes(first, end) + activationBytes(end == layers);
    }

    /**
     * A worker's decode seconds per layer from its measured bytes per second per weight type (types it did not
     * measure are estimated at half its memory bandwidth).
     */
    public double[] layerSeconds(Map<GgmlType, Double> throughput, double bandwidth) {
        double[] s = new double[layers];
        for (int l = 0; l < layers; l++) s[l] = seconds(layerBytesByType.get(l), throughput, bandwidth);
        return s;
    }

    public double headSeconds(Map<GgmlType, Double> throughput, double bandwidth) {
        return seconds(headBytesByType, throughput, bandwidth);
    }

    private static double seconds(Map<GgmlType, Long> bytes, Map<GgmlType, Double> throughput, double bandwidth) {
        double s = 0;
        for (var e : bytes.entrySet()) {
            Double v = throughput.get(e.getKey());
            double rate = v != null && v > 0 ? v : (bandwidth > 0 ? bandwidth / 2 : 1e9);
            s += e.getValue() / rate;
        }
        return s;
    }
}
