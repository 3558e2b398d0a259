package io.strata.coordinator.gateway;

import io.strata.coordinator.scheduler.LocalPipeline;
import io.strata.coordinator.scheduler.PipelineExecutor;
import io.strata.coordinator.scheduler.Scheduler;
import io.strata.engine.backend.KvType;
import io.strata.engine.cpu.CpuBackend;
import io.strata.engine.gguf.GgufFile;
import io.strata.engine.testing.Fixtures;
import io.strata.engine.text.Tokenizer;

import java.net.URI;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A real gateway on a free port over a real in-process pipeline of the {@code small-Q4_0} fixture (4 layers, BPE
 * vocabulary of 320) with its real tokenizer.
 */
final class TestServer implements AutoCloseable {
    static final String MODEL = "small-q4";

    final GgufFile file;
    final Tokenizer tokenizer;
    final LocalPipeline local;
    final Switchable pipeline;
    final Scheduler scheduler;
    final Gateway gateway;
    final EngineTextModel text;

    TestServer(GatewayConfig config, Scheduler.Config schedulerConfig, int stages) throws InterruptedException {
        file = GgufFile.open(Fixtures.path("small/small-Q4_0.gguf"));
        tokenizer = Tokenizer.fromMetadata(file.metadata());
        local = LocalPipeline.start(file, new LocalPipeline.Options(stages, KvType.F32, 256, 8, 8 * 256, 64), () -> new CpuBackend(1));
        pipeline = new Switchable(local);
        scheduler = new Scheduler(pipeline, schedulerConfig);
        text = EngineTextModel.of(file);
        gateway = Gateway.start(config, scheduler, text);
    }

    static TestServer start() throws InterruptedException {
        return new TestServer(GatewayConfig.of(0, MODEL), Scheduler.Config.defaults(), 2);
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + gateway.port() + path);
    }

    String base() {
        return "http://127.0.0.1:" + gateway.port() + "/v1";
    }

    long kvBytes() {
        return local.stages().stream().mapToLong(PipelineExecutor.StageInfo::kvBytes).sum();
    }

    @Override
    public void close() {
        gateway.close();
        scheduler.close();
        local.close();
        file.close();
    }

    /** The real pipeline, with readiness that a test can switch off (a stage "not loaded"). */
    static final class Switchable implements PipelineExecutor {
        final PipelineExecutor inner;
        volatile boolean ready = true;

        Switchable(PipelineExecutor inner) {
            this.inner = inner;
        }

        @Override
        public List<StageInfo> stages() {
            List<StageInfo> s = inner.stages();
            if (ready) return s;
            StageInfo last = s.getLast();
            return java.util.stream.Stream.concat(s.subList(0, s.size() - 1).stream(), java.util.stream.Stream.of(last.withReady(false))).toList();
        }

        @Override public boolean ready() { return ready && inner.ready(); }
        @Override public int depth() { return inner.depth(); }
        @Override public int vocabSize() { return inner.vocabSize(); }
        @Override public KvLimits kvLimits() { return inner.kvLimits(); }
        @Override public CompletableFuture<Result> submit(Batch batch) { return inner.submit(batch); }
        @Override public void release(long seq) { inner.release(seq); }
        @Override public void close() { inner.close(); }
    }
}
