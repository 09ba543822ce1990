package dev.ckptdiff.diff;

import java.lang.foreign.MemorySegment;

import dev.ckptdiff.tensor.DType;

/**
 * {@code count} consecutive elements of each side: side A's from byte {@code offA} of {@code a},
 * side B's from {@code offB} of {@code b}; element i is HF flat index {@code hfStart + i}.
 */
public record Run(MemorySegment a, long offA, DType dtA, MemorySegment b, long offB, DType dtB, long count,
                  long hfStart) {
}
