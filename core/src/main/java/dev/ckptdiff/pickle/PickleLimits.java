package dev.ckptdiff.pickle;

/** Bounds that keep a hostile or broken pickle from hanging the process or exhausting memory. */
public record PickleLimits(int maxMemo, int maxStack, int maxMarks, int maxNesting, long maxContainerItems) {
    public static final PickleLimits DEFAULT = new PickleLimits(1 << 22, 1 << 22, 10_000, 500, 1L << 26);
}
