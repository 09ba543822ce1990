package dev.ckptdiff.diff;

/**
 * A comparison within one copy that must hold for the copy to be sound: a replicated parameter on
 * two TP ranks, or a tied embedding and its copy.
 */
public record Check(Kind kind, String name, Assembled expected, Assembled actual, String what) {
    public enum Kind { REPLICA, TIED_COPY }
}
