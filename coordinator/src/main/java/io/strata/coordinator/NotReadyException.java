package io.strata.coordinator;

/** No complete pipeline is ready (still loading, a worker missing, the model does not fit...): the message says why. */
public final class NotReadyException extends PipelineException {
    public NotReadyException(String message) {
        super(message);
    }
}
