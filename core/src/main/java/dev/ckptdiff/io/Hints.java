package dev.ckptdiff.io;

import java.lang.foreign.MemorySegment;

/** Read-ahead hints for regions of mapped files, for code that holds only a view of the mapping. */
public final class Hints {
    private Hints() {
    }

    public static void willRead(MemorySegment mappedView, long offset, long length) {
        Madvise.sequential(mappedView, offset, length);
    }
}
