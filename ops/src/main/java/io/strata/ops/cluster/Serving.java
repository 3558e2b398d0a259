package io.strata.ops.cluster;

import io.strata.coordinator.Coordinator;
import io.strata.coordinator.gateway.EngineTextModel;
import io.strata.coordinator.gateway.Gateway;
import io.strata.coordinator.gateway.GatewayConfig;
import io.strata.coordinator.scheduler.ClusterPipeline;
import io.strata.coordinator.scheduler.Scheduler;
import io.strata.engine.gguf.GgufFile;

import java.nio.file.Path;

/** The user-facing side of a coordinator process: the scheduler over its pipeline and the OpenAI gateway. */
final class Serving implements AutoCloseable {
    private final Scheduler scheduler;
    private final Gateway gateway;

    private Serving(Scheduler scheduler, Gateway gateway) {
        this.scheduler = scheduler;
        this.gateway = gateway;
    }

    static Serving start(Coordinator coordinator, Path model, GatewayConfig config) throws Exception {
        EngineTextModel text;
        try (GgufFile f = GgufFile.open(model)) {
            text = EngineTextModel.of(f);
        }
        Scheduler s = new Scheduler(new ClusterPipeline(coordinator), Scheduler.Config.defaults());
        try {
            return new Serving(s, Gateway.start(config, s, text));
        } catch (Exception | Error e) {
            s.close();
            throw e;
        }
    }

    int port() {
        return gateway.port();
    }

    @Override
    public void close() {
        gateway.close();
        scheduler.close();
    }
}
