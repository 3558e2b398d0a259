package io.strata.coordinator.scheduler;

/** A step failed as a whole; the message names the stage, worker and layer range. */
public final class PipelineException extends RuntimeException {
    public PipelineException(String message, Throwable cause) {
        super(message, cause);
    }

    public PipelineException(String message) {
        super(message);
    }
}
