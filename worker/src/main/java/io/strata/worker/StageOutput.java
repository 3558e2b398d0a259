package io.strata.worker;

/**
 * Where a stage's work goes: the next stage's worker (middle stages) or the coordinator's results stream (the last
 * stage). Implemented by the gRPC adapters; called by one thread at a time: the stage thread, or the transport thread
 * that received a frame when the frame runs inline ({@link StageHost}).
 */
public interface StageOutput {

    /** Whether the output can take another frame now (never blocks); false when it is gone. */
    boolean readyNow();

    /**
     * Blocks until the output can take another frame without piling up (the transport's flow control), or throws
     * {@link BrokenOutputException} when the output is gone.
     */
    void awaitReady() throws InterruptedException;

    /**
     * Middle stages: the step with this stage's hidden rows, to the next stage. The rows are encoded before this
     * returns, so the caller may reuse {@code step.hidden()} afterwards; the array may be longer than the step's rows.
     */
    void forward(Frames.Step step);

    /** Middle stages: a release, to the next stage. */
    void forward(Frames.Release release);

    /** Last stage: a step's tokens to the coordinator. */
    void result(Frames.StepResult result);

    /** Last stage: tells the coordinator a release reached every stage. */
    void released(Frames.Release release);

    /** The output cannot deliver (the next stage or the coordinator went away); the message says which and why. */
    final class BrokenOutputException extends RuntimeException {
        public BrokenOutputException(String message) {
            super(message);
        }
    }
}
