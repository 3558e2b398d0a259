package io.strata.coordinator.scheduler;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Waiting requests, served round-robin across users (OpenAI's {@code user} field, or the API key): one user with
 * many requests cannot starve another's single one. Within a user, first come first served. Not thread-safe.
 */
final class FairQueue<T> {
    private final LinkedHashMap<String, ArrayDeque<T>> byUser = new LinkedHashMap<>();
    private int size;

    void add(String user, T item) {
        byUser.computeIfAbsent(user, u -> new ArrayDeque<>()).addLast(item);
        size++;
    }

    /** The next item to serve, or null. */
    T peek() {
        Iterator<ArrayDeque<T>> it = byUser.values().iterator();
        return it.hasNext() ? it.next().peekFirst() : null;
    }

    /** Removes and returns the next item; its user moves to the back of the rotation. */
    T poll() {
        Iterator<Map.Entry<String, ArrayDeque<T>>> it = byUser.entrySet().iterator();
        if (!it.hasNext()) return null;
        Map.Entry<String, ArrayDeque<T>> e = it.next();
        T item = e.getValue().pollFirst();
        it.remove();
        if (!e.getValue().isEmpty()) byUser.put(e.getKey(), e.getValue());
        size--;
        return item;
    }

    boolean remove(String user, T item) {
        ArrayDeque<T> q = byUser.get(user);
        if (q == null || !q.remove(item)) return false;
        if (q.isEmpty()) byUser.remove(user);
        size--;
        return true;
    }

    int size() {
        return size;
    }
}
