package io.strata.coordinator.zk;

/** Curator namespace for a Strata root such as {@code /strata} (every node lives under it). */
public final class Namespace {
    public static final String DEFAULT_ROOT = "/strata";

    private Namespace() {
    }

    public static String of(String root) {
        String r = root == null || root.isBlank() ? DEFAULT_ROOT : root;
        while (r.startsWith("/")) r = r.substring(1);
        while (r.endsWith("/")) r = r.substring(0, r.length() - 1);
        if (r.isEmpty()) throw new IllegalArgumentException("the ZooKeeper root must not be '/'");
        return r;
    }
}
