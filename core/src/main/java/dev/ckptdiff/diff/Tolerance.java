package dev.ckptdiff.diff;

/**
 * When two values count as the same: {@code |a - b| <= atol + rtol * max(|a|, |b|)}. Symmetric, so
 * that swapping the two copies cannot change a verdict. The defaults admit re-rounding between
 * bf16, fp16 and fp32 (a bf16 step is 2^-8 relative) and nothing a real fault produces.
 */
public record Tolerance(double atol, double rtol) {
    public static final double DEFAULT_ATOL = 1e-5;
    public static final double DEFAULT_RTOL = 1e-2;
    public static final Tolerance DEFAULT = new Tolerance(DEFAULT_ATOL, DEFAULT_RTOL);
}
