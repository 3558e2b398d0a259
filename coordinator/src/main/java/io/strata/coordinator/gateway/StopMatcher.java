package io.strata.coordinator.gateway;

import java.util.List;

/**
 * Finds stop strings in streamed text. Text that could still be the start of a stop string is held back until the
 * next piece shows whether it is; once a stop string appears, the text before it is the last to emit.
 */
final class StopMatcher {
    private final List<String> stops;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    StopMatcher(List<String> stops) {
        this.stops = List.copyOf(stops);
    }

    boolean stopped() {
        return stopped;
    }

    /** Adds text; returns what can be emitted now (possibly empty). After a stop string, returns the text before it. */
    String push(String text) {
        if (stopped) return "";
        if (stops.isEmpty()) return text;
        held.append(text);
        int first = -1;
        for (String s : stops) {
            int i = held.indexOf(s);
            if (i >= 0 && (first < 0 || i < first)) first = i;
        }
        if (first >= 0) {
            stopped = true;
            String out = held.substring(0, first);
            held.setLength(0);
            return out;
        }
        int keep = 0;
        for (String s : stops) keep = Math.max(keep, overlap(held, s));
        String out = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return out;
    }

    /** The held-back text, at the end of generation. */
    String flush() {
        String out = held.toString();
        held.setLength(0);
        return stopped ? "" : out;
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of {@code stop}. */
    private static int overlap(CharSequence text, String stop) {
        int max = Math.min(text.length(), stop.length() - 1);
        for (int k = max; k > 0; k--) {
            boolean match = true;
            for (int j = 0; j < k && match; j++) match = text.charAt(text.length() - k + j) == stop.charAt(j);
            if (match) return k;
        }
        return 0;
    }
}
