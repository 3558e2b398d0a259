package io.strata.engine.text;

/**
 * SentencePiece BPE ({@code tokenizer.ggml.model = llama}) as llama.cpp's SPM session does it: the text's UTF-8
 * characters are the first symbols; the adjacent pair whose concatenation is a token with the highest score merges
 * first (leftmost on ties), until no pair forms a token; a symbol left that is not a token falls back to its byte
 * tokens ({@code <0xXX>}).
 *
 * <p>The caller has already escaped spaces to U+2581 and added the space prefix. Symbols are byte ranges of the
 * escaped text; a pair's concatenation is the contiguous range covering both, looked up without copying.
 */
final class SpmModel {
    private final ByteStringMap tokens;
    private final float[] scores;
    private final int[] byteToken; // <0xXX> token of each byte, or -1

    SpmModel(ByteStringMap tokens, float[] scores, int[] byteToken) {
        this.tokens = tokens;
        this.scores = scores;
        this.byteToken = byteToken;
    }

    /** Tokenizes {@code text[0, n)} (escaped UTF-8) and appends the ids. */
    void encode(byte[] text, int n, Scratch w, IntList out) {
        if (n == 0) return;
        w.ensure(n);
        int[] start = w.a, length = w.b, next = w.next, prev = w.prev;
        MergeQueue queue = w.queue;
        int count = 0;
        for (int off = 0; off < n; ) {
            int len = Math.min(utf8Length(text[off]), n - off);
            start[count] = off;
            length[count] = len;
            prev[count] = count - 1;
            off += len;
            next[count] = off == n ? -1 : count + 1;
            count++;
        }
        queue.clear();
        for (int i = 1; i < count; i++) offer(text, w, i - 1, i);
        while (!queue.isEmpty()) {
            queue.pop();
            int l = queue.popLeft;
            int r = queue.popRight;
            // stale if a side was merged away or the pair's total size changed since it was offered
            if (length[l] == 0 || length[r] == 0 || length[l] + length[r] != queue.popCheck1) continue;
            length[l] += length[r];
            length[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            if (prev[l] >= 0) offer(text, w, prev[l], l);
            if (next[l] >= 0) offer(text, w, l, next[l]);
        }
        for (int i = 0; i >= 0; i = next[i]) {
            int id = tokens.get(text, start[i], length[i]);
            if (id >= 0) {
                out.add(id);
                continue;
            }
            for (int j = start[i]; j < start[i] + length[i]; j++) {
                int b = text[j] & 0xFF;
                if (byteToken[b] < 0) {
                    throw new IllegalArgumentException(String.format(
                            "SentencePiece vocabulary has no byte token <0x%02X> for a character it cannot spell", b));
                }
                out.add(byteToken[b]);
            }
        }
    }

    private void offer(byte[] text, Scratch w, int l, int r) {
        int size = w.b[l] + w.b[r];
        int id = tokens.get(text, w.a[l], size);
        if (id < 0) return;
        w.queue.push(descending(scores[id]), l, r, size, 0);
    }

    /** An int whose ascending order is the float's descending order (-0.0 and 0.0 equal, as with {@code <}). */
    private static int descending(float score) {
        int bits = Float.floatToIntBits(score + 0.0f);
        int ascending = bits ^ ((bits >> 31) & 0x7FFFFFFF);
        return ~ascending;
    }

    /** llama.cpp's {@code unicode_len_utf8}: sequence length from the lead byte's high nibble. */
    static int utf8Length(byte lead) {
        int hi = (lead & 0xFF) >>> 4;
        return hi < 12 ? 1 : hi < 14 ? 2 : hi == 14 ? 3 : 4;
    }
}
