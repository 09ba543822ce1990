package dev.ckptdiff.megatron;

/**
 * How routed experts are spread: over {@code ep} expert-parallel folders, {@code localExperts} each
 * (local expert K of EP rank e is global expert {@code e * localExperts + K}), and split over
 * {@code etp} expert-tensor-parallel ranks (Megatron's default: ETP = TP). {@code grouped}: the
 * Transformer Engine grouped form ({@code weightK}) rather than SequentialMLP's. All zero/false
 * for a dense model.
 */
public record ExpertLayout(int numExperts, int ep, int etp, int localExperts, boolean grouped) {
    public static final ExpertLayout NONE = new ExpertLayout(0, 1, 1, 0, false);

    public boolean present() {
        return numExperts > 0;
    }

    /** The global number of local expert {@code k} on EP rank {@code epRank}. */
    public int global(int epRank, int k) {
        return epRank * localExperts + k;
    }

    public String describe() {
        return present() ? numExperts + " experts" + (ep > 1 ? " over EP=" + ep : "") + ", ETP=" + etp
                + (grouped ? " (grouped)" : " (sequential)") : "dense";
    }
}
