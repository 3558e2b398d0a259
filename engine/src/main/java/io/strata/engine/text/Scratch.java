package io.strata.engine.text;

/** Working arrays for one encode call (symbols of the word being merged), grown as needed and reused per word. */
final class Scratch {
    int[] a = new int[64];
    int[] b = new int[64];
    int[] next = new int[64];
    int[] prev = new int[64];
    final MergeQueue queue = new MergeQueue();

    void ensure(int n) {
        if (a.length >= n) return;
        int cap = Math.max(n, a.length * 2);
        a = new int[cap];
        b = new int[cap];
        next = new int[cap];
        prev = new int[cap];
    }
}
