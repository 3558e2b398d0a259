package io.strata.worker;

/** Element type of the hidden states a stage sends to the next: f32 (exact), or f16/bf16 to halve the bytes. */
public enum ActivationType {
    F32(4), F16(2), BF16(2);

    public final int bytes;

    ActivationType(int bytes) {
        this.bytes = bytes;
    }
}
