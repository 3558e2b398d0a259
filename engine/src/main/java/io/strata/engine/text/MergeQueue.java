package io.strata.engine.text;

import java.util.Arrays;

/**
 * The min-heap of candidate merges both tokenizers work through: an entry is (priority, left symbol, right symbol,
 * two check values that tell at pop time whether the entry is stale). Ordered by priority, then by left symbol
 * index, which is llama.cpp's order (equal priorities: the leftmost pair first). Arrays are reused across words.
 */
final class MergeQueue {
    private int[] priority = new int[64];
    private int[] left = new int[64];
    private int[] right = new int[64];
    private int[] check1 = new int[64];
    private int[] check2 = new int[64];
    private int[] heap = new int[64]; // entry indices
    private int entries;
    private int size;

    /** The entry popped last. */
    int popLeft;
    int popRight;
    int popCheck1;
    int popCheck2;

    void clear() {
        entries = 0;
        size = 0;
    }

    boolean isEmpty() {
        return size == 0;
    }

    void push(int prio, int l, int r, int c1, int c2) {
        if (entries == priority.length) {
            int n = entries * 2;
            priority = Arrays.copyOf(priority, n);
            left = Arrays.copyOf(left, n);
            right = Arrays.copyOf(right, n);
            check1 = Arrays.copyOf(check1, n);
            check2 = Arrays.copyOf(check2, n);
        }
        if (size == heap.length) heap = Arrays.copyOf(heap, size * 2);
        int e = entries++;
        priority[e] = prio;
        left[e] = l;
        right[e] = r;
        check1[e] = c1;
        check2[e] = c2;
        int i = size++;
        while (i > 0) { // sift up
            int parent = (i - 1) >>> 1;
            if (!less(e, heap[parent])) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = e;
    }

    /** Removes the smallest entry into the pop* fields. */
    void pop() {
        int top = heap[0];
        popLeft = left[top];
        popRight = right[top];
        popCheck1 = check1[top];
        popCheck2 = check2[top];
        int last = heap[--size];
        int i = 0;
        while (true) { // sift down
            int c = 2 * i + 1;
            if (c >= size) break;
            if (c + 1 < size && less(heap[c + 1], heap[c])) c++;
            if (!less(heap[c], last)) break;
            heap[i] = heap[c];
            i = c;
        }
        heap[i] = last;
    }

    private boolean less(int a, int b) {
        return priority[a] < priority[b] || (priority[a] == priority[b] && left[a] < left[b]);
    }
}
