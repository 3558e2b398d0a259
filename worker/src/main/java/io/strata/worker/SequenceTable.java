package io.strata.worker;

import io.strata.engine.backend.KvCache;
import io.strata.engine.sample.SequenceSampler;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * The sequences a stage holds: each gets one KV cache from a pool allocated up front (so the memory a worker
 * promised is the memory it uses, and running out is a clear per-sequence error, not an out-of-memory crash).
 * Used by the stage thread only.
 */
final class SequenceTable {

    /** One sequence: its cache and how many positions of it are filled on this stage. */
    static final class Entry {
        final long seqId;
        final KvCache cache;
        int length;
        SequenceSampler sampler;  // last stage: parameters, random stream and penalty history, once it samples

        Entry(long seqId, KvCache cache) {
            this.seqId = seqId;
            this.cache = cache;
        }
    }

    private final KvCache[] pool;
    private final ArrayDeque<KvCache> free = new ArrayDeque<>();
    private final Map<Long, Entry> active = new HashMap<>();

    SequenceTable(KvCache[] pool) {
        this.pool = pool;
        for (KvCache c : pool) free.add(c);
    }

    int capacity() {
        return pool.length;
    }

    /** Positions each cache holds. */
    int contextLength() {
        return pool.length == 0 ? 0 : pool[0].contextLength();
    }

    int active() {
        return active.size();
    }

    long bytes() {
        long n = 0;
        for (KvCache c : pool) n += c.bytes();
        return n;
    }

    Entry get(long seqId) {
        return active.get(seqId);
    }

    /** A new sequence's entry, or null when every cache is in use. */
    Entry open(long seqId) {
        KvCache c = free.poll();
        if (c == null) return null;
        Entry e = new Entry(seqId, c);
        active.put(seqId, e);
        return e;
    }

    void release(long seqId) {
        Entry e = active.remove(seqId);
        if (e != null) free.add(e.cache);
    }

    void releaseAll() {
        for (Entry e : active.values()) free.add(e.cache);
        active.clear();
    }

    /** Forgets every sequence; the caches belong to the loaded shard, which frees them. */
    void clear() {
        active.clear();
        free.clear();
    }
}
