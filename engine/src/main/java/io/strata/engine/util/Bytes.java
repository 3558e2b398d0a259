package io.strata.engine.util;

import java.util.Locale;

/**
 * Byte sizes as operators write and read them, in powers of 1024: {@code 48g}, {@code 512m}, {@code 1.5t} or
 * {@code 64GiB} in; {@code 48.0 GiB} out. Shared by the worker's {@code --memory}, the planner's tables and logs.
 */
public final class Bytes {
    private Bytes() {
    }

    /** Parses {@code 123}, {@code 4k}, {@code 512m}, {@code 48g}, {@code 1.5t} (case-insensitive, optional {@code b}/{@code ib}). */
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
            double v = Double.parseDouble(t) * mult;
            if (!(v >= 0) || v >= 0x1p63) throw new NumberFormatException();
            return (long) v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a size: '" + s + "' (write e.g. 48g, 512m, 1.5t)");
        }
    }

    /** {@code 1536} becomes {@code 1.5 KiB}; three significant digits at most. */
    public static String format(long bytes) {
        if (bytes < 1024) return bytes + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, v >= 100 ? "%.0f %s" : "%.1f %s", v, units[u]);
    }
}
