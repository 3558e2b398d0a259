package io.strata.worker.grpc;

import io.strata.worker.StageOutput;

import java.util.function.BooleanSupplier;

/**
 * Lets the stage thread wait until a gRPC stream can take another message (its {@code isReady()}), woken by the
 * stream's on-ready handler, or fail at once when the stream is gone.
 */
final class ReadyGate {
    private final Object lock = new Object();
    private volatile String broken;

    void signal() {
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    void breakWith(String reason) {
        synchronized (lock) {
            if (broken == null) broken = reason;
            lock.notifyAll();
        }
    }

    String broken() {
        return broken;
    }

    void await(BooleanSupplier ready) throws InterruptedException {
        if (broken == null && ready.getAsBoolean()) return;
        synchronized (lock) {
            while (true) {
                if (broken != null) throw new StageOutput.BrokenOutputException(broken);
                if (ready.getAsBoolean()) return;
                // isReady can flip without a callback in rare races; re-check periodically.
                lock.wait(100);
            }
        }
    }
}
