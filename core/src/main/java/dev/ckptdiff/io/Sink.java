package dev.ckptdiff.io;

import java.lang.foreign.MemorySegment;

/** Receives the bytes of one output entry, window by window, in order. */
@FunctionalInterface
public interface Sink {
    void write(long offsetInEntry, MemorySegment bytes);
}
