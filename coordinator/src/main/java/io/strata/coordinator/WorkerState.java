package io.strata.coordinator;

/**
 * What a worker last reported about its stage (through its Watch stream), or that it cannot be reached.
 *
 * @param planVersion the plan its assignment belongs to (0 when it holds none)
 */
public record WorkerState(String id, Phase phase, long planVersion, int first, int end, String fingerprint, String error,
                          long weightBytes, long loadedBytes, long loads, long loadNanos) {

    public enum Phase { IDLE, LOADING, LINKING, READY, FAILED, UNREACHABLE }

    public static WorkerState unreachable(String id, String why) {
        return new WorkerState(id, Phase.UNREACHABLE, 0, 0, 0, "", why, 0, 0, 0, 0);
    }

    public boolean holds(long version, int first, int end) {
        return planVersion == version && this.first == first && this.end == end && phase != Phase.UNREACHABLE && phase != Phase.IDLE;
    }

    public String describe() {
        String p = phase.name().toLowerCase();
        if (phase == Phase.LOADING && weightBytes > 0) p += String.format(" %d%%", 100 * loadedBytes / weightBytes);
        return p + (error.isEmpty() ? "" : ": " + error);
    }
}
