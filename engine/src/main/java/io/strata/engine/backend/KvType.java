package io.strata.engine.backend;

/** Element type of a KV cache. */
public enum KvType {
    F32(4), F16(2);

    public final int bytes;

    KvType(int bytes) {
        this.bytes = bytes;
    }

    public static KvType parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "f32" -> F32;
            case "f16" -> F16;
            default -> throw new IllegalArgumentException("KV cache type must be f32 or f16, got '" + s + "'");
        };
    }
}
