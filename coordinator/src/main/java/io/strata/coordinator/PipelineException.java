package io.strata.coordinator;

/** The pipeline cannot serve: a stage went away, or none is ready. The message says which and why. */
public class PipelineException extends RuntimeException {
    public PipelineException(String message) {
        super(message);
    }

    public PipelineException(String message, Throwable cause) {
        super(message, cause);
    }
}
