package io.strata.coordinator.gateway;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.strata.coordinator.scheduler.LatencyHistogram;
import io.strata.coordinator.scheduler.PipelineExecutor;
import io.strata.coordinator.scheduler.PipelineExecutor.StageInfo;
import io.strata.coordinator.scheduler.Scheduler;
import io.strata.coordinator.scheduler.Scheduler.Snapshot;
import io.strata.coordinator.scheduler.Scheduler.StageLoad;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.LongAdder;

/**
 * The gateway's view of the system for operators: {@code GET /api/status} (JSON read by the dashboard) and
 * {@code GET /metrics} (Prometheus text format 0.0.4, written by hand: a few counters, gauges and two histograms).
 */
final class StatusReport {
    private final String modelId;
    private final Scheduler scheduler;
    private final long startedMillis = System.currentTimeMillis();
    final LongAdder httpRequests = new LongAdder();
    final LongAdder httpErrors = new LongAdder();

    StatusReport(String modelId, Scheduler scheduler) {
        this.modelId = modelId;
        this.scheduler = scheduler;
    }

    ObjectNode json() {
        PipelineExecutor p = scheduler.pipeline();
        Snapshot s = scheduler.snapshot();
        List<StageInfo> stages = p.stages();
        ObjectNode root = OpenAiJson.object();
        root.put("model", modelId);
        root.put("ready", p.ready());
        root.put("uptime_seconds", (System.currentTimeMillis() - startedMillis) / 1000);
        ArrayNode st = root.putArray("stages");
        for (StageInfo i : stages) {
            ObjectNode o = st.addObject();
            o.put("index", i.index());
            o.put("first_layer", i.firstLayer());
            o.put("end_layer", i.endLayer());
            o.put("worker", i.worker());
            o.put("backend", i.backend());
            o.put("ready", i.ready());
            o.put("weight_bytes", i.weightBytes());
            o.put("kv_bytes", i.kvBytes());
            putKnown(o, "resident_bytes", i.residentBytes());
            putKnown(o, "model_resident_bytes", i.modelResidentBytes());
            o.put("memory_used_bytes", i.weightBytes() + i.kvBytes());
            putKnown(o, "memory_usable_bytes", i.usableBytes());
            putKnown(o, "bandwidth_bytes_per_second", Math.round(i.bandwidthBytesPerSecond()));
            putMs(o, "layer_ms", i.secondsPerLayer() > 0 ? i.secondsPerLayer() * 1000 : Double.NaN);
            StageLoad load = i.index() < s.stages().size() ? s.stages().get(i.index()) : null;
            putMs(o, "step_compute_ms", load == null ? Double.NaN : load.computeMs());
            putMs(o, "step_queued_ms", load == null ? Double.NaN : load.queuedMs());
            o.put("steps", load == null ? 0 : load.steps());
        }
        ObjectNode sch = root.putObject("scheduler");
        sch.put("queued", s.queued());
        sch.put("running", s.running());
        sch.put("decoding", s.decoding());
        sch.put("micro_batches_in_flight", s.inFlight());
        sch.put("depth", s.depth());
        sch.put("tokens_per_second", round(s.tokensPerSecond()));
        putMs(sch, "inter_token_ms", s.interTokenMs());
        putMs(sch, "prefill_ms_per_token", s.prefillMsPerToken());
        sch.put("prefill_chunk", scheduler.config().prefillChunk());
        sch.put("max_queued", scheduler.config().maxQueued());
        ObjectNode kv = sch.putObject("kv");
        kv.put("reserved_positions", s.kvReservedPositions());
        kv.put("total_positions", s.kv().totalPositions());
        kv.put("max_sequences", s.kv().maxSequences());
        kv.put("context_length", s.kv().contextLength());
        ObjectNode totals = root.putObject("totals");
        totals.put("requests", scheduler.requests.sum());
        totals.put("finished", scheduler.finished.sum());
        totals.put("cancelled", scheduler.cancelled.sum());
        totals.put("failed", scheduler.failed.sum());
        totals.put("recoveries", scheduler.recoveries.sum());
        totals.put("recovered_sequences", scheduler.recoveredSequences.sum());
        totals.put("rejected_queue_full", scheduler.rejectedQueueFull.sum());
        totals.put("prompt_tokens", scheduler.promptTokens.sum());
        totals.put("generated_tokens", scheduler.generatedTokens.sum());
        totals.put("http_requests", httpRequests.sum());
        totals.put("http_errors", httpErrors.sum());
        ObjectNode lat = root.putObject("latency");
        putMs(lat, "ttft_p50_ms", scheduler.timeToFirstToken.quantile(0.5) * 1000);
        putMs(lat, "ttft_p99_ms", scheduler.timeToFirstToken.quantile(0.99) * 1000);
        putMs(lat, "itl_p50_ms", scheduler.interToken.quantile(0.5) * 1000);
        putMs(lat, "itl_p99_ms", scheduler.interToken.quantile(0.99) * 1000);
        return root;
    }

    /** A quantity the pipeline may not know (0): null then. */
    private static void putKnown(ObjectNode o, String field, long value) {
        if (value > 0) o.put(field, value);
        else o.putNull(field);
    }

    private static void putMs(ObjectNode o, String field, double ms) {
        if (Double.isNaN(ms)) o.putNull(field);
        else o.put(field, round(ms));
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    String prometheus() {
        PipelineExecutor p = scheduler.pipeline();
        Snapshot s = scheduler.snapshot();
        StringBuilder b = new StringBuilder(4096);
        metric(b, "strata_ready", "gauge", "1 when every stage of the pipeline is loaded and linked.", p.ready() ? 1 : 0);
        metric(b, "strata_requests_total", "counter", "Generation requests accepted by the scheduler.", scheduler.requests.sum());
        header(b, "strata_requests_ended_total", "counter", "Accepted requests that ended, by outcome.");
        sample(b, "strata_requests_ended_total{outcome=\"finished\"}", scheduler.finished.sum());
        sample(b, "strata_requests_ended_total{outcome=\"cancelled\"}", scheduler.cancelled.sum());
        sample(b, "strata_requests_ended_total{outcome=\"failed\"}", scheduler.failed.sum());
        metric(b, "strata_recovering", "gauge", "1 while running requests wait for a new pipeline after a worker died.",
                scheduler.recovering() ? 1 : 0);
        metric(b, "strata_recoveries_total", "counter", "Times the pipeline broke and the running requests were replayed on a new one.",
                scheduler.recoveries.sum());
        metric(b, "strata_recovered_sequences_total", "counter", "Running requests replayed on a new pipeline after a worker died.",
                scheduler.recoveredSequences.sum());
        metric(b, "strata_recovery_failures_total", "counter",
                "Requests kept across a worker's death that failed: no pipeline came back in time, or they could not be replayed.",
                scheduler.recoveryFailures.sum());
        metric(b, "strata_requests_rejected_total", "counter", "Requests refused with 429 because the queue was full.",
                scheduler.rejectedQueueFull.sum());
        metric(b, "strata_prompt_tokens_total", "counter", "Prompt tokens of ended requests.", scheduler.promptTokens.sum());
        metric(b, "strata_generated_tokens_total", "counter", "Tokens generated.", scheduler.generatedTokens.sum());
        metric(b, "strata_http_requests_total", "counter", "HTTP requests received by the gateway.", httpRequests.sum());
        metric(b, "strata_http_errors_total", "counter", "HTTP requests answered with an error status.", httpErrors.sum());
        metric(b, "strata_queue_depth", "gauge", "Requests waiting for admission.", s.queued());
        metric(b, "strata_running_sequences", "gauge", "Sequences admitted (prefilling or decoding).", s.running());
        metric(b, "strata_micro_batches_in_flight", "gauge", "Micro-batches inside the pipeline.", s.inFlight());
        metric(b, "strata_kv_reserved_positions", "gauge", "KV cache positions reserved by running sequences.", s.kvReservedPositions());
        metric(b, "strata_kv_total_positions", "gauge", "KV cache positions the pipeline can hold.", s.kv().totalPositions());
        metric(b, "strata_tokens_per_second", "gauge", "Generated tokens per second over the last 10 seconds.", s.tokensPerSecond());
        header(b, "strata_stage_step_compute_seconds", "gauge", "Moving average of a stage's compute time per step.");
        List<StageInfo> stages = p.stages();
        for (StageInfo i : stages) {
            StageLoad l = i.index() < s.stages().size() ? s.stages().get(i.index()) : null;
            if (l != null && !Double.isNaN(l.computeMs())) sample(b, "strata_stage_step_compute_seconds" + labels(i), l.computeMs() / 1000);
        }
        header(b, "strata_stage_kv_bytes", "gauge", "KV cache bytes allocated on a stage.");
        for (StageInfo i : stages) sample(b, "strata_stage_kv_bytes" + labels(i), i.kvBytes());
        header(b, "strata_stage_weight_bytes", "gauge", "Weight bytes a stage reads.");
        for (StageInfo i : stages) sample(b, "strata_stage_weight_bytes" + labels(i), i.weightBytes());
        header(b, "strata_stage_resident_bytes", "gauge", "Resident memory of a stage's process.");
        for (StageInfo i : stages) if (i.residentBytes() > 0) sample(b, "strata_stage_resident_bytes" + labels(i), i.residentBytes());
        header(b, "strata_stage_usable_bytes", "gauge", "Memory budget of a stage's worker (weights, KV caches, activations).");
        for (StageInfo i : stages) if (i.usableBytes() > 0) sample(b, "strata_stage_usable_bytes" + labels(i), i.usableBytes());
        header(b, "strata_stage_bandwidth_bytes_per_second", "gauge", "Memory bandwidth a stage's worker measured at start.");
        for (StageInfo i : stages) {
            if (i.bandwidthBytesPerSecond() > 0) sample(b, "strata_stage_bandwidth_bytes_per_second" + labels(i), i.bandwidthBytesPerSecond());
        }
        header(b, "strata_stage_layer_seconds", "gauge", "Decode time of one layer of the served model, from the worker's self-benchmark.");
        for (StageInfo i : stages) if (i.secondsPerLayer() > 0) sample(b, "strata_stage_layer_seconds" + labels(i), i.secondsPerLayer());
        histogram(b, "strata_time_to_first_token_seconds", "From arrival to the first generated token.", scheduler.timeToFirstToken);
        histogram(b, "strata_inter_token_seconds", "Between consecutive tokens of a sequence.", scheduler.interToken);
        return b.toString();
    }

    private static String labels(StageInfo i) {
        return "{stage=\"" + i.index() + "\",worker=\"" + escape(i.worker()) + "\",layers=\"" + i.firstLayer() + "-" + (i.endLayer() - 1) + "\"}";
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    private static void header(StringBuilder b, String name, String type, String help) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void metric(StringBuilder b, String name, String type, String help, double value) {
        header(b, name, type, help);
        sample(b, name, value);
    }

    private static void sample(StringBuilder b, String name, double value) {
        b.append(name).append(' ');
        if (value == Math.rint(value) && Math.abs(value) < 1e15) b.append((long) value);
        else b.append(String.format(Locale.ROOT, "%.6g", value));
        b.append('\n');
    }

    private static void histogram(StringBuilder b, String name, String help, LatencyHistogram h) {
        header(b, name, "histogram", help);
        double[] bounds = h.bounds();
        long[] cum = h.cumulative();
        for (int i = 0; i < bounds.length; i++) {
            sample(b, name + "_bucket{le=\"" + String.format(Locale.ROOT, "%s", bounds[i]) + "\"}", cum[i]);
        }
        sample(b, name + "_bucket{le=\"+Inf\"}", cum[cum.length - 1]);
        sample(b, name + "_sum", h.sumSeconds());
        sample(b, name + "_count", cum[cum.length - 1]);
    }
}
