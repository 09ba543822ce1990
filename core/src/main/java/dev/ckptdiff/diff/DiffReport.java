package dev.ckptdiff.diff;

import java.util.List;

/** Everything one {@code ckpt-diff} run found, for the text report and {@code --json}. */
public record DiffReport(List<String> inputs, String engine, Tolerance tolerance, int threads,
                         List<Comparison> comparisons, double seconds) {

    public static final int FINDINGS = 1;
    public static final int BAD_INPUT = 2;

    public long findings() {
        long n = 0;
        for (Comparison c : comparisons) {
            n += c.findings();
        }
        return n;
    }

    public int exitCode() {
        return findings() > 0 ? FINDINGS : 0;
    }
}
