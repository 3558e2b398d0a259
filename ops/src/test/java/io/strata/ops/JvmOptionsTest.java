package io.strata.ops;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class JvmOptionsTest {

    @Test
    void childrenTakeOverTheArchiveAndItsSilencedLog() {
        List<String> launcher = List.of("--add-modules=jdk.incubator.vector", "-XX:+UseParallelGC", "-Xmx512m",
                "-XX:SharedArchiveFile=/opt/strata/ops/target/strata-cds-temurin-25.jsa", "-Xlog:cds=off,aot=off", "-Dx=y");
        assertEquals(List.of("-XX:SharedArchiveFile=/opt/strata/ops/target/strata-cds-temurin-25.jsa", "-Xlog:cds=off,aot=off"),
                JvmOptions.classDataSharing(launcher));
    }

    @Test
    void withoutAnArchiveNothingIsPassedOn() {
        assertEquals(List.of(), JvmOptions.classDataSharing(List.of("-Xlog:cds=off", "-Xmx512m")));
        assertEquals(List.of(), JvmOptions.classDataSharing(List.of()));
    }
}
