package io.strata.coordinator.placement;

import java.util.Locale;

/** Byte sizes for people: {@code 48g} in, {@code 48.0 GiB} out (powers of 1024). */
public final class Bytes {
    private Bytes() {
    }

    public static long parse(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        if (t.endsWith("ib")) t = t.substring(0, t.length() - 2);
        else if (t.endsWith("b") && t.length() > 1 && Character.isLetter(t.charAt(t.length() - 2))) t = t.substring(0, t.length() - 1);
        long mult = switch (t.isEmpty() ? ' ' : t.charAt(t.length() - 1)) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            case 't' -> 1L << 40;
            default -> 1;
        };
        if (mult != 1) t = t.substring(0, t.length() - 1);
        try {
            double v = Double.parseDouble(t);
            if (v < 0 || Double.isNaN(v) || Double.isInfinite(v)) throw new NumberFormatException();
            return (long) (v * mult);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a size: '" + s + "' (write e.g. 48g, 512m, 1.5t)");
        }
    }

    public static String format(long bytes) {
        if (bytes < 1024) return bytes + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, v >= 100 ? "%.0f %s" : "%.1f %s", v, units[u]);
    }
}
