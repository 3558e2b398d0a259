package io.strata.engine.text;

import java.util.Arrays;

/**
 * Byte strings to ints, looked up by a range of a byte array without copying it (open addressing, keys packed in
 * one array). Putting an existing key replaces its value, as llama.cpp's {@code token_to_id[text] = id} does, so
 * with duplicate token texts the last id wins.
 */
final class ByteStringMap {
    private byte[] pool = new byte[1 << 16];
    private int poolSize;
    private int[] keyOffset;
    private int[] keyLength;
    private int[] values;
    private int[] hashes;
    private int[] slots; // entry index + 1, 0 = empty
    private int size;

    ByteStringMap(int expected) {
        int cap = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
        slots = new int[cap];
        keyOffset = new int[Math.max(16, expected)];
        keyLength = new int[keyOffset.length];
        values = new int[keyOffset.length];
        hashes = new int[keyOffset.length];
    }

    int size() {
        return size;
    }

    /** The value for {@code key[off, off + len)}, or -1. */
    int get(byte[] key, int off, int len) {
        int mask = slots.length - 1;
        int h = hash(key, off, len);
        for (int s = h & mask; ; s = (s + 1) & mask) {
            int e = slots[s];
            if (e == 0) return -1;
            if (hashes[e - 1] == h && equal(e - 1, key, off, len)) return values[e - 1];
        }
    }

    int get(byte[] key) {
        return get(key, 0, key.length);
    }

    void put(byte[] key, int value) {
        int mask = slots.length - 1;
        int h = hash(key, 0, key.length);
        int s = h & mask;
        for (; ; s = (s + 1) & mask) {
            int e = slots[s];
            if (e == 0) break;
            if (hashes[e - 1] == h && equal(e - 1, key, 0, key.length)) {
                values[e - 1] = value;
                return;
            }
        }
        if (size == keyOffset.length) {
            keyOffset = Arrays.copyOf(keyOffset, size * 2);
            keyLength = Arrays.copyOf(keyLength, size * 2);
            values = Arrays.copyOf(values, size * 2);
            hashes = Arrays.copyOf(hashes, size * 2);
        }
        while (poolSize + key.length > pool.length) pool = Arrays.copyOf(pool, pool.length * 2);
        System.arraycopy(key, 0, pool, poolSize, key.length);
        keyOffset[size] = poolSize;
        keyLength[size] = key.length;
        values[size] = value;
        hashes[size] = h;
        poolSize += key.length;
        slots[s] = ++size;
        if (size * 2 > slots.length) rehash();
    }

    private void rehash() {
        int[] bigger = new int[slots.length * 2];
        int mask = bigger.length - 1;
        for (int e = 0; e < size; e++) {
            int s = hashes[e] & mask;
            while (bigger[s] != 0) s = (s + 1) & mask;
            bigger[s] = e + 1;
        }
        slots = bigger;
    }

    private boolean equal(int e, byte[] key, int off, int len) {
        return keyLength[e] == len && Arrays.equals(pool, keyOffset[e], keyOffset[e] + len, key, off, off + len);
    }

    private static int hash(byte[] key, int off, int len) {
        int h = 0x811C9DC5;
        for (int i = off; i < off + len; i++) h = (h ^ (key[i] & 0xFF)) * 0x01000193;
        h ^= h >>> 15; // mix the high bits into the low ones the table index uses
        h *= 0x2C1B3C6D;
        return h ^ (h >>> 12);
    }
}
