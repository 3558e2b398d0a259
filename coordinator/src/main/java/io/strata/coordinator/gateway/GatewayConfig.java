package io.strata.coordinator.gateway;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Settings of the REST gateway.
 *
 * @param host         address to bind (default {@code 127.0.0.1}; {@code 0.0.0.0} for every interface)
 * @param port         TCP port (0 = any free port)
 * @param modelId      the id clients put in {@code model} (and {@code GET /v1/models} lists)
 * @param maxBodyBytes largest request body accepted; larger ones get 413 (default 8 MiB)
 * @param apiKeys      accepted {@code Authorization: Bearer} keys for {@code /v1/*}; empty = no authentication
 */
public record GatewayConfig(String host, int port, String modelId, int maxBodyBytes, Set<String> apiKeys) {

    public static final int DEFAULT_MAX_BODY_BYTES = 8 << 20;

    public GatewayConfig {
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in [0, 65535]: " + port);
        if (modelId == null || modelId.isBlank()) throw new IllegalArgumentException("the model id must not be empty");
        if (maxBodyBytes < 1024) throw new IllegalArgumentException("the body limit must be at least 1024 bytes: " + maxBodyBytes);
        apiKeys = Set.copyOf(apiKeys);
    }

    public static GatewayConfig of(int port, String modelId) {
        return new GatewayConfig("127.0.0.1", port, modelId, DEFAULT_MAX_BODY_BYTES, Set.of());
    }

    public GatewayConfig withHost(String address) {
        return new GatewayConfig(address, port, modelId, maxBodyBytes, apiKeys);
    }

    public GatewayConfig withApiKeys(Set<String> keys) {
        return new GatewayConfig(host, port, modelId, maxBodyBytes, keys);
    }

    public GatewayConfig withMaxBodyBytes(int bytes) {
        return new GatewayConfig(host, port, modelId, bytes, apiKeys);
    }

    /**
     * Reads API keys from a file: one key per line; blank lines and lines starting with {@code #} are skipped.
     */
    public static Set<String> readApiKeys(Path file) throws IOException {
        Set<String> keys = new LinkedHashSet<>();
        int n = 0;
        for (String line : Files.readAllLines(file)) {
            n++;
            String k = line.strip();
            if (k.isEmpty() || k.startsWith("#")) continue;
            if (k.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException(file + " line " + n + ": an API key must not contain spaces");
            }
            keys.add(k);
        }
        return keys;
    }
}
