package dev.ckptdiff.diff;

/** A tensor's verdict, mildest first. Everything from DIFFERENT on is a finding (exit code 1). */
public enum Verdict {
    IDENTICAL("identical"),
    WITHIN_TOLERANCE("within tolerance"),
    DIFFERENT("different"),
    NON_FINITE("non-finite"),
    SHAPE_MISMATCH("shape mismatch"),
    DTYPE_MISMATCH("dtype mismatch"),
    ONLY_IN_A("only in A"),
    ONLY_IN_B("only in B");

    private final String label;

    Verdict(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    public boolean isFinding() {
        return ordinal() >= DIFFERENT.ordinal();
    }
}
