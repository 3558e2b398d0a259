package io.strata.engine.text;

import java.util.List;

/**
 * Finds user stop strings in streamed text. Text that might be the start of a stop string is held back until it is
 * clear either way, so nothing of a stop string is ever emitted; the text before it is. Works on characters, after
 * {@link StreamDecoder}, and never splits a surrogate pair. Not thread-safe: one per sequence.
 */
public final class StopMatcher {
    private final List<String> stops;
    private final int longest;
    private final StringBuilder held = new StringBuilder();
    private String matched;

    public StopMatcher(List<String> stops) {
        for (String s : stops) {
            if (s == null || s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
        }
        this.stops = List.copyOf(stops);
        int max = 0;
        for (String s : stops) max = Math.max(max, s.length());
        this.longest = max;
    }

    /** Adds text; returns what can be emitted now (nothing more once a stop string was found). */
    public String push(String text) {
        if (matched != null) return "";
        held.append(text);
        int best = -1;
        for (String s : stops) {
            int at = held.indexOf(s);
            if (at >= 0 && (best < 0 || at < best)) {
                best = at;
                matched = s;
            }
        }
        if (best >= 0) {
            String out = held.substring(0, best);
            held.setLength(0);
            return out;
        }
        int keep = heldBackLength();
        int emit = held.length() - keep;
        if (emit > 0 && Character.isHighSurrogate(held.charAt(emit - 1))) emit--;
        String out = held.substring(0, emit);
        held.delete(0, emit);
        return out;
    }

    /** The longest suffix of the held text that is a proper prefix of some stop string. */
    private int heldBackLength() {
        int n = held.length();
        for (int len = Math.min(longest - 1, n); len > 0; len--) {
            for (String s : stops) {
                if (s.length() > len && startsWith(s, n - len, len)) return len;
            }
        }
        return 0;
    }

    private boolean startsWith(String stop, int from, int len) {
        for (int i = 0; i < len; i++) if (held.charAt(from + i) != stop.charAt(i)) return false;
        return true;
    }

    /** Whether a stop string was found. */
    public boolean stopped() {
        return matched != null;
    }

    /** The stop string found, or null. */
    public String stopString() {
        return matched;
    }

    /** Generation ended without a stop string: the text held back is output after all. */
    public String flush() {
        if (matched != null) return "";
        String out = held.toString();
        held.setLength(0);
        return out;
    }
}
