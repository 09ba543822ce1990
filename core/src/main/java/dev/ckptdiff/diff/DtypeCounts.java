package dev.ckptdiff.diff;

import java.util.Map;

/** How many tensors each side stores in each dtype: an fp16 export of a bf16 model shows here, not only per tensor. */
public record DtypeCounts(Map<String, Long> a, Map<String, Long> b) {

    /** True when the two sides store their tensors in different dtypes, so values were compared as float32. */
    public boolean differ() {
        return !a.keySet().equals(b.keySet());
    }

    /** "A F16 (39), B BF16 (39)". */
    public String describe() {
        return "A " + describe(a) + ", B " + describe(b);
    }

    private static String describe(Map<String, Long> m) {
        StringBuilder sb = new StringBuilder();
        m.forEach((d, n) -> sb.append(sb.isEmpty() ? "" : " + ").append(d).append(" (").append(n).append(')'));
        return sb.isEmpty() ? "none" : sb.toString();
    }
}
