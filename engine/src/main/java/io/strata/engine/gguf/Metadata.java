package io.strata.engine.gguf;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * GGUF key/value metadata, in file order. Values are Java objects by GGUF type: UINT8, INT8, UINT16, INT16 and
 * INT32 are {@link Integer}; UINT32, UINT64 and INT64 {@link Long}; FLOAT32 {@link Float}; FLOAT64 {@link Double};
 * BOOL {@link Boolean}; STRING {@link String}. Arrays are typed Java arrays: {@code int[]} (8/16/32-bit signed
 * types), {@code long[]} (UINT32, 64-bit), {@code float[]}, {@code double[]}, {@code boolean[]}, {@link GgufStrings}
 * (decoded only when asked for: {@link #getStringArray}), and, for arrays of arrays, {@code Entry[]} whose entries
 * carry each inner array's element type and offset.
 *
 * <p>The getters throw {@link GgufException} naming the file and the key when a required key is missing or has
 * the wrong type.
 */
public final class Metadata {

    /** One value with its GGUF type (for arrays, {@code elementType} is the element type). */
    public record Entry(GgufValueType type, GgufValueType elementType, Object value, long offset) {}

    private final Path file;
    private final Map<String, Entry> entries;

    public Metadata(Path file, Map<String, Entry> entries) {
        this.file = file;
        this.entries = Collections.unmodifiableMap(new LinkedHashMap<>(entries));
    }

    public Path file() {
        return file;
    }

    public Set<String> keys() {
        return entries.keySet();
    }

    public Map<String, Entry> entries() {
        return entries;
    }

    public boolean has(String key) {
        return entries.containsKey(key);
    }

    /** The raw value, or null when absent. */
    public Object get(String key) {
        Entry e = entries.get(key);
        return e == null ? null : e.value();
    }

    private Entry require(String key) {
        Entry e = entries.get(key);
        if (e == null) throw new GgufException(file, key, -1, "required metadata key is missing");
        return e;
    }

    private GgufException wrongType(String key, Entry e, String wanted) {
        return new GgufException(file, key, e.offset(), "expected " + wanted + " but the value is " + e.type()
                + (e.type() == GgufValueType.ARRAY ? " of " + e.elementType() : ""));
    }

    public String getString(String key) {
        Entry e = require(key);
        if (e.value() instanceof String s) return s;
        throw wrongType(key, e, "a string");
    }

    public String getString(String key, String fallback) {
        return has(key) ? getString(key) : fallback;
    }

    public long getLong(String key) {
        Entry e = require(key);
        if (e.value() instanceof Integer || e.value() instanceof Long) return ((Number) e.value()).longValue();
        throw wrongType(key, e, "an integer");
    }

    public int getInt(String key) {
        long v = getLong(key);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new GgufException(file, key, entries.get(key).offset(), "value " + v + " does not fit in 32 bits");
        }
        return (int) v;
    }

    public int getInt(String key, int fallback) {
        return has(key) ? getInt(key) : fallback;
    }

    public float getFloat(String key) {
        Entry e = require(key);
        if (e.value() instanceof Float || e.value() instanceof Double) return ((Number) e.value()).floatValue();
        if (e.value() instanceof Integer || e.value() instanceof Long) return ((Number) e.value()).floatValue();
        throw wrongType(key, e, "a number");
    }

    public float getFloat(String key, float fallback) {
        return has(key) ? getFloat(key) : fallback;
    }

    public boolean getBool(String key) {
        Entry e = require(key);
        if (e.value() instanceof Boolean b) return b;
        throw wrongType(key, e, "a bool");
    }

    public boolean getBool(String key, boolean fallback) {
        return has(key) ? getBool(key) : fallback;
    }

    /** An array of strings, decoded (the same array on every call: callers must not change it). */
    public String[] getStringArray(String key) {
        return getStrings(key).toArray();
    }

    /** An array of strings as stored, undecoded: for readers that work on the bytes, such as a tokenizer. */
    public GgufStrings getStrings(String key) {
        Entry e = require(key);
        if (e.value() instanceof GgufStrings a) return a;
        if (e.value() instanceof String[] a) return GgufStrings.of(a);
        throw wrongType(key, e, "an array of strings");
    }

    public float[] getFloatArray(String key) {
        Entry e = require(key);
        if (e.value() instanceof float[] a) return a;
        throw wrongType(key, e, "an array of float32");
    }

    /** An integer array as {@code int[]} (8-, 16- and 32-bit element types; UINT32 values must fit). */
    public int[] getIntArray(String key) {
        Entry e = require(key);
        if (e.value() instanceof int[] a) return a;
        if (e.value() instanceof long[] a) {
            int[] r = new int[a.length];
            for (int i = 0; i < a.length; i++) {
                if (a[i] < Integer.MIN_VALUE || a[i] > Integer.MAX_VALUE) {
                    throw new GgufException(file, key, e.offset(), "element " + i + " = " + a[i] + " does not fit in 32 bits");
                }
                r[i] = (int) a[i];
            }
            return r;
        }
        throw wrongType(key, e, "an array of integers");
    }

    /** The GGUF type of a value, or null when absent. */
    public Entry entry(String key) {
        return entries.get(key);
    }
}
