package io.strata.coordinator.gateway;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dashboard in a real browser: headless Chromium loads {@code /}, runs its script against {@code /api/status}, and
 * the rendered DOM must show the pipeline's stages, their layer ranges and workers, and the scheduler's counters.
 * Needs Chromium ({@code apt-get install chromium}); without it the test is reported as skipped, with the reason.
 * A screenshot is left in {@code target/dashboard.png}.
 */
class DashboardBrowserTest {
    static TestServer server;
    static String chromium;

    @BeforeAll
    static void start() throws Exception {
        chromium = findChromium();
        Assumptions.assumeTrue(chromium != null, "Chromium is not installed (chromium / chromium-browser on PATH): the dashboard's browser check did not run");
        server = new TestServer(GatewayConfig.of(0, TestServer.MODEL), io.strata.coordinator.scheduler.Scheduler.Config.defaults(), 2);
        // some traffic, so the counters and per-stage timings are not empty
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(server.uri("/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"small-q4\",\"prompt\":[312,65,66],\"max_tokens\":12,\"temperature\":0}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    /** Deletes a Chromium profile directory. */
    static void delete(Path profile) throws IOException {
        try (var walk = Files.walk(profile)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }

    static String findChromium() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            for (String name : new String[]{"chromium", "chromium-browser"}) {
                Path p = Path.of(dir, name);
                if (Files.isExecutable(p)) return p.toString();
            }
        }
        return null;
    }

    /** Runs headless Chromium on the dashboard with {@code extra} arguments; returns its stdout. */
    static String chromium(Path profile, String... extra) throws IOException, InterruptedException {
        return chromium(chromium, server.uri("/"), profile, extra);
    }

    /** Runs headless Chromium ({@code executable}) on the page at {@code page}; returns its stdout. */
    static String chromium(String executable, java.net.URI page, Path profile, String... extra) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(executable, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--user-data-dir=" + profile, "--virtual-time-budget=5000"));
        cmd.addAll(List.of(extra));
        cmd.add(page.toString());
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(90, TimeUnit.SECONDS), "chromium finished within 90 s");
        return new String(out, StandardCharsets.UTF_8);
    }

    @Test
    void theRenderedPageShowsStagesAndCounters() throws Exception {
        Path profile = Files.createTempDirectory("strata-chromium");
        try {
            String dom = chromium(profile, "--dump-dom");
            assertTrue(dom.contains("data-loaded=\"true\""), "the script read /api/status:\n" + dom);
            assertTrue(dom.contains("<span id=\"model\" class=\"model\">small-q4</span>"), dom);
            assertTrue(dom.contains("class=\"badge ok\">ready<"), dom);
            // one table row per stage with its layer range and worker
            assertEquals(2, count(dom, "<tr class=\"stage\">"), dom);
            assertTrue(dom.contains("<td>0–1</td><td>local-0</td><td>cpu</td>"), dom);
            // the stages' process is this JVM: its resident memory is shown (the budget and bandwidth of a one-process
            // pipeline are not known)
            assertTrue(java.util.regex.Pattern.compile("<td>local-1</td><td>cpu</td><td[^>]*>ready</td><td>[^<]+</td><td>[^<]+</td>"
                    + "<td[^>]*>[0-9.]+ [KMG]iB</td><td>[0-9.]+ [KMG]iB</td><td>–</td><td>–</td><td>[0-9.]+ ms</td>").matcher(dom).find(), dom);
            assertTrue(dom.contains("<td>2–3</td><td>local-1</td><td>cpu</td>"), dom);
            assertTrue(dom.contains("<dt>generated tokens</dt><dd>12</dd>"), dom);
            assertTrue(dom.contains("<dt>http errors</dt><dd>0</dd>"), "the page loads nothing that fails:\n" + dom);
            assertTrue(dom.contains("id=\"error\" class=\"error\" hidden"), "no error shown:\n" + dom);
            Path png = Path.of("target", "dashboard.png").toAbsolutePath();
            Files.deleteIfExists(png);
            chromium(profile, "--screenshot=" + png, "--window-size=1280,900", "--hide-scrollbars");
            assertTrue(Files.size(png) > 10_000, "a screenshot was written");
        } finally {
            try (var walk = Files.walk(profile)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    static int count(String s, String sub) {
        int n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + 1)) n++;
        return n;
    }
}
