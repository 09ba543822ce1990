package dev.ckptdiff.check;

/** ERROR fails the check (exit 1); WARNING and INFO do not. */
public enum Severity { ERROR, WARNING, INFO }
