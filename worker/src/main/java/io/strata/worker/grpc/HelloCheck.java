package io.strata.worker.grpc;

import io.strata.proto.v1.Hello;
import io.strata.proto.v1.ProtocolVersion;
import io.strata.worker.Assignment;
import io.strata.worker.StageSlot;

/** The handshake's checks, shared by the control and stage services: null when the Hello is acceptable. */
final class HelloCheck {
    static final int PROTOCOL = ProtocolVersion.PROTOCOL_VERSION_CURRENT_VALUE;

    private HelloCheck() {
    }

    /**
     * @param needStage true for stage streams: the stage must be loaded and match the caller's expectation exactly
     */
    static String refusal(Hello h, String workerId, StageSlot.Status s, boolean needStage) {
        String who = "worker " + workerId;
        if (h.getProtocolVersion() != PROTOCOL) {
            return who + " speaks protocol version " + PROTOCOL + " but " + caller(h) + " speaks " + h.getProtocolVersion();
        }
        Assignment a = s.assignment();
        boolean expectsModel = !h.getModelFingerprint().isEmpty();
        if (!expectsModel && !needStage) return null;
        if (a == null) {
            return who + " holds no stage, but " + caller(h) + " expects " + expectation(h);
        }
        String holds = who + " holds layers " + a.range() + " of model " + abbrev(a.fingerprint()) + " (plan " + a.planVersion() + ")";
        if (expectsModel && !h.getModelFingerprint().equals(a.fingerprint())) {
            return holds + ", but " + caller(h) + " expects model " + abbrev(h.getModelFingerprint());
        }
        if (h.hasExpected() && (h.getExpected().getFirst() != a.first() || h.getExpected().getEnd() != a.end())) {
            return holds + ", but " + caller(h) + " expects layers [" + h.getExpected().getFirst() + ", " + h.getExpected().getEnd() + ")";
        }
        if (h.getPlanVersion() != 0 && h.getPlanVersion() != a.planVersion()) {
            return holds + ", but " + caller(h) + " acts for plan " + h.getPlanVersion();
        }
        if (needStage && s.state() != StageSlot.State.LINKING && s.state() != StageSlot.State.READY) {
            return holds + " but is " + s.state().name().toLowerCase() + (s.error().isEmpty() ? "" : ": " + s.error());
        }
        return null;
    }

    private static String caller(Hello h) {
        return h.getCaller().isEmpty() ? "the caller" : h.getCaller();
    }

    private static String expectation(Hello h) {
        return (h.hasExpected() ? "layers [" + h.getExpected().getFirst() + ", " + h.getExpected().getEnd() + ") of " : "")
                + "model " + abbrev(h.getModelFingerprint());
    }

    static String abbrev(String fp) {
        return fp.length() > 12 ? fp.substring(0, 12) + "…" : fp;
    }
}
