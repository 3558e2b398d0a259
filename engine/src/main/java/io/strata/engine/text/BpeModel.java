package io.strata.engine.text;

import io.strata.engine.gguf.GgufStrings;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Byte-level BPE ({@code tokenizer.ggml.model = gpt2}) over raw bytes, as llama.cpp's BPE session does it.
 *
 * <p>llama.cpp works on GPT-2-encoded strings (each byte shown as one printable character); this class works on the
 * raw bytes those strings stand for, which is the same thing because the encoding is one-to-one. Every string that
 * can take part in a merge (each vocabulary token, each side and each result of a merge) gets an int id, a
 * "string id": ids below the vocabulary size are token ids, ids above are strings that only appear in merges. A
 * merge is then a lookup of the pair of string ids, and a word is merged with ints only.
 *
 * <p>Per word: the word itself if {@code ignore_merges} and it is a token; otherwise its bytes as symbols, merged by
 * lowest rank first (leftmost on ties) until no adjacent pair has a merge; each remaining symbol that is not a token
 * falls back to single-byte tokens as llama.cpp does (printable ASCII only; other bytes are dropped there too).
 */
final class BpeModel {
    private final int vocabSize;
    private final ByteStringMap strings;
    private final List<byte[]> extraStrings = new ArrayList<>(); // string id vocabSize + i
    private final int[] byteString = new int[256]; // string id of each single byte, or -1
    // (left string id, right string id) -> rank and result string id, open addressing on the packed pair
    private long[] mergeKeys;
    private int[] mergeRank;
    private int[] mergeResult;
    private int merges;
    private final boolean ignoreMerges;


    /**
     * @param rawTokens each token's raw bytes (GPT-2 decoding of its text), or null for a token whose text is not a
     *                  byte-level string (such a token can never be produced from text)
     * @param mergeRules the {@code tokenizer.ggml.merges} entries, in rank order
     */
    BpeModel(byte[][] rawTokens, GgufStrings mergeRules, boolean ignoreMerges) {
        this.vocabSize = rawTokens.length;
        this.ignoreMerges = ignoreMerges;
        int rules = mergeRules.size();
        strings = new ByteStringMap(rawTokens.length + rules);
        for (int id = 0; id < rawTokens.length; id++) {
            if (rawTokens[id] != null) strings.put(rawTokens[id], id);
        }
        int cap = Integer.highestOneBit(Math.max(16, rules * 2 - 1)) << 1;
        mergeKeys = new long[cap];
        Arrays.fill(mergeKeys, -1L);
        mergeRank = new int[cap];
        mergeResult = new int[cap];
        byte[] rule = new byte[64];
        for (int rank = 0; rank < rules; rank++) {
            int len = mergeRules.length(rank);
            if (len > rule.length) rule = new byte[Math.max(len, 2 * rule.length)];
            mergeRules.copy(rank, rule, 0);
            // llama.cpp splits at the first space after the first character; a rule without one pairs "" and ""
            int space = len == 0 ? -1 : indexOf(rule, (byte) ' ', SpmModel.utf8Length(rule[0]), len);
            if (space < 0) continue; // the pair ("", "") never occurs between two symbols
            byte[] a = ByteLevel.decodeUtf8(rule, 0, space);
            byte[] b = ByteLevel.decodeUtf8(rule, space + 1, len);
            if (a == null || b == null || a.length == 0 || b.length == 0) continue; // cannot occur in encoded text
            byte[] ab = Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, ab, a.length, b.length);
            addMerge(intern(a), intern(b), rank, intern(ab));
        }
        for (int b = 0; b < 256; b++) byteString[b] = strings.get(new byte[] {(byte) b});
    }

    private static int indexOf(byte[] a, byte v, int from, int to) {
        for (int i = from; i < to; i++) if (a[i] == v) return i;
        return -1;
    }

    private int intern(byte[] s) {
        int id = strings.get(s);
        if (id >= 0) return id;
        id = vocabSize + extraStrings.size();
        extraStrings.add(s);
        strings.put(s, id);
        return id;
    }

    private static long pair(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private static int slot(long key, int mask) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 33) & mask;
    }

    private void addMerge(int a, int b, int rank, int result) {
        long key = pair(a, b);
        int mask = mergeKeys.length - 1;
        int s = slot(key, mask);
        while (mergeKeys[s] != -1L) {
            if (mergeKeys[s] == key) return; // first rule for a pair wins, as llama.cpp's emplace
            s = (s + 1) & mask;
        }
        mergeKeys[s] = key;
        mergeRank[s] = rank;
        mergeResult[s] = result;
        if (++merges * 2 > mergeKeys.length) growMerges();
    }

    private void growMerges() {
        long[] keys = mergeKeys;
        int[] ranks = mergeRank;
        int[] results = mergeResult;
        mergeKeys = new long[keys.length * 2];
        Arrays.fill(mergeKeys, -1L);
        mergeRank = new int[keys.length * 2];
        mergeResult = new int[keys.length * 2];
        int mask = mergeKeys.length - 1;
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] == -1L) continue;
            int s = slot(keys[i], mask);
            while (mergeKeys[s] != -1L) s = (s + 1) & mask;
            mergeKeys[s] = keys[i];
            mergeRank[s] = ranks[i];
            mergeResult[s] = results[i];
        }
    }

    /** The slot of the merge (a, b), or -1. */
    private int findMerge(int a, int b) {
        if (a < 0 || b < 0) return -1;
        long key = pair(a, b);
        int mask = mergeKeys.length - 1;
        for (int s = slot(key, mask); ; s = (s + 1) & mask) {
            long k = mergeKeys[s];
            if (k == key) return s;
            if (k == -1L) return -1;
        }
    }

    int mergeCount() {
        return merges;
    }

    /** Tokenizes one pre-tokenized word {@code bytes[from, to)} and appends the ids. */
    void encodeWord(byte[] bytes, int from, int to, Scratch w, IntList out) {
        int n = to - from;
        if (n == 0) return;
        if (ignoreMerges) {
            int id = strings.get(bytes, from, n);
            if (id >= 0 && id < vocabSize) {
                out.add(id);
                return;
            }
        }
        w.ensure(n);
        int[] symbol = w.a, next = w.next, prev = w.prev;
        MergeQueue queue = w.queue;
        for (int i = 0; i < n; i++) {
            symbol[i] = byteString[bytes[from + i] & 0xFF];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        queue.clear();
        for (int i = 1; i < n; i++) offer(symbol, queue, i - 1, i);
        while (!queue.isEmpty()) {
            queue.pop();
            int l = queue.popLeft;
            int r = queue.popRight;
            // stale if either side was merged away or has grown since the pair was offered
            if (symbol[l] != queue.popCheck1 || symbol[r] != queue.popCheck2 || next[l] != r) continue;
            symbol[l] = mergeResult[findMerge(symbol[l], symbol[r])];
            symbol[r] = -2; // merged away
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            if (prev[l] >= 0) offer(symbol, queue, prev[l], l);
            if (next[l] >= 0) offer(symbol, queue, l, next[l]);
        }
        for (int i = 0; i >= 0; i = next[i]) {
            int s = symbol[i];
            if (s >= 0 && s < vocabSize) {
                out.add(s);
            } else if (s >= vocabSize) {
                // llama.cpp looks up each byte of the encoded string alone: only printable ASCII (encoded as itself,
                // one byte) can match a token; the other bytes' encodings are two-byte characters and are dropped
                for (byte b : extraStrings.get(s - vocabSize)) {
                    int t = b >= 0x21 && b <= 0x7E ? byteString[b] : -1;
                    if (t >= 0 && t < vocabSize) out.add(t);
                }
            }
            // s == -1: a byte with no token and no merge; llama.cpp's fallback finds nothing for it either
        }
    }

    private void offer(int[] symbol, MergeQueue queue, int l, int r) {
        int m = findMerge(symbol[l], symbol[r]);
        if (m >= 0) queue.push(mergeRank[m], l, r, symbol[l], symbol[r]);
    }
}
