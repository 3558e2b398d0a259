package io.strata.ops.cluster;

import io.strata.coordinator.gateway.GatewayConfig;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Where the OpenAI API and dashboard listen and who may call the API (shared by {@code coordinator} and {@code local}). */
public final class GatewayOptions {
    @Option(names = "--host", defaultValue = "127.0.0.1",
            description = "address the OpenAI API and dashboard bind to; 0.0.0.0 for every interface (default: ${DEFAULT-VALUE})")
    public String host;

    @Option(names = "--port", defaultValue = "8080", description = "HTTP port of the OpenAI API and dashboard; 0 = any free port (default: ${DEFAULT-VALUE})")
    public int port;

    @Option(names = "--api-key", paramLabel = "KEY",
            description = "accept this key in 'Authorization: Bearer KEY' on /v1/* (repeatable; without any key the API is open)")
    public List<String> apiKeys = new ArrayList<>();

    @Option(names = "--api-key-file", paramLabel = "FILE",
            description = "read accepted keys from FILE: one per line, # comments (with --api-key: both)")
    public Path apiKeyFile;

    /** The gateway's settings for {@code modelId}; checks the address and the keys. */
    public GatewayConfig config(String modelId) throws IOException {
        try {
            InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("--host: cannot resolve " + host);
        }
        Set<String> keys = new LinkedHashSet<>();
        for (String k : apiKeys) {
            if (k.isBlank() || k.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException("--api-key: a key must be non-empty and without spaces");
            }
            keys.add(k);
        }
        if (apiKeyFile != null) {
            if (!Files.isRegularFile(apiKeyFile)) throw new IllegalArgumentException("--api-key-file: no such file: " + apiKeyFile);
            Set<String> fromFile = GatewayConfig.readApiKeys(apiKeyFile);
            if (fromFile.isEmpty()) throw new IllegalArgumentException("--api-key-file: " + apiKeyFile + " holds no key");
            keys.addAll(fromFile);
        }
        return GatewayConfig.of(port, modelId).withHost(host).withApiKeys(keys);
    }

    /** Whether the gateway listens on every interface. */
    public boolean wildcard() {
        try {
            return InetAddress.getByName(host).isAnyLocalAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** The address to print for clients on this machine: the bound one, or loopback for a wildcard bind. */
    public String displayHost() {
        if (wildcard()) return "127.0.0.1";
        return host.contains(":") ? "[" + host + "]" : host;
    }

    /** A warning when the API is reachable from other machines without a key, else null. */
    public String exposureWarning() {
        if (!apiKeys.isEmpty() || apiKeyFile != null) return null;
        try {
            if (InetAddress.getByName(host).isLoopbackAddress()) return null;
        } catch (UnknownHostException e) {
            return null;
        }
        return "the OpenAI API listens on " + host + " without --api-key: anyone who can reach this port can use it";
    }
}
