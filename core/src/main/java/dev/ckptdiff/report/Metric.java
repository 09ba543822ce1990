package dev.ckptdiff.report;

import dev.ckptdiff.diff.Stats;
import dev.ckptdiff.diff.TensorResult;

/** What a heatmap cell is coloured by. */
public enum Metric {
    /** Relative L2 error ||a-b||/||b||: how far the two copies of one model are apart. */
    REL_L2("relative L2 error ‖a−b‖/‖b‖"),
    /** Update size ||B-A||/||A||: how far a training step moved the weights (A the earlier step). */
    UPDATE("update size ‖B−A‖/‖A‖");

    private final String label;

    Metric(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    /**
     * The tensor's value; infinite when no number can say how far apart the sides are (a tensor on one side only,
     * shapes or dtypes that differ, non-finite values), so such a tensor is always the hottest.
     */
    public double of(TensorResult t) {
        if (t.verdict().isFinding() && t.verdict() != dev.ckptdiff.diff.Verdict.DIFFERENT) {
            return Double.POSITIVE_INFINITY;
        }
        Stats s = t.stats();
        return this == REL_L2 ? s.relL2() : update(s);
    }

    /** ||b-a|| / ||a|| over finite pairs; 0 when nothing changed. */
    public static double update(Stats s) {
        if (s.sumSq == 0) {
            return 0;
        }
        return s.sumSqA == 0 ? Double.POSITIVE_INFINITY : Math.sqrt(s.sumSq / s.sumSqA);
    }
}
