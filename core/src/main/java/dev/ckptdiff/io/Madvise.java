package dev.ckptdiff.io;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * madvise(2) through the FFM linker, as Lucene does for its mapped inputs. Mapped pages are
 * otherwise faulted in one small fault-around window at a time, which on a multi-gigabyte warm file
 * costs more than the comparison itself; MADV_POPULATE_READ fills the page tables in one call.
 * Purely a hint: where the call is not available or fails, reads still work.
 */
final class Madvise {
    private static final int MADV_SEQUENTIAL = 2;
    private static final int MADV_WILLNEED = 3;
    private static final int MADV_POPULATE_READ = 22;
    private static final long PAGE = 4096;
    private static final MethodHandle MADVISE = lookup();
    private static volatile boolean populateWorks = true;

    private Madvise() {
    }

    private static MethodHandle lookup() {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("madvise").map(addr -> linker.downcallHandle(addr,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                            ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))).orElse(null);
        } catch (Throwable t) { // no native access granted, or not Linux: the hint is optional
            return null;
        }
    }

    static void sequential(MemorySegment mapping, long offset, long length) {
        if (MADVISE == null || length <= 0 || !mapping.isMapped()) {
            return;
        }
        long start = mapping.address() + offset;
        long alignedStart = start & -PAGE;
        long alignedLength = Math.min(start + length, mapping.address() + mapping.byteSize()) - alignedStart;
        MemorySegment region = MemorySegment.ofAddress(alignedStart).reinterpret(alignedLength);
        try {
            int rc = (int) MADVISE.invokeExact(region, alignedLength, MADV_SEQUENTIAL);
            if (populateWorks) {
                rc = (int) MADVISE.invokeExact(region, alignedLength, MADV_POPULATE_READ);
                if (rc != 0) { // kernels before 5.14: fall back to read-ahead only
                    populateWorks = false;
                }
            }
            if (!populateWorks) {
                rc = (int) MADVISE.invokeExact(region, alignedLength, MADV_WILLNEED);
            }
        } catch (Throwable ignored) {
            // a hint only
        }
    }
}
