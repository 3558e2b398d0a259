package io.strata.worker;

/** A stage that cannot be loaded, with the kind of reason and a message naming worker, file and layer range. */
public final class LoadException extends RuntimeException {
    public enum Reason { NOT_FOUND, CHECKSUM, MEMORY, INVALID }

    private final Reason reason;

    public LoadException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public LoadException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
