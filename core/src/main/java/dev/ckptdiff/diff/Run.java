package dev.ckptdiff.diff;

import java.lang.foreign.MemorySegment;

import dev.ckptdiff.tensor.DType;

/**
 * {@code rows} runs of {@code count} consecutive elements on each side: row i of side A starts at
 * byte {@code offA + i * strideA} of {@code a} (likewise B), and its element j is HF flat index
 * {@code hfStart + i * hfStride + j}. One row with any strides is a plain contiguous run.
 */
public record Run(MemorySegment a, long offA, DType dtA, MemorySegment b, long offB, DType dtB, long count,
                  long hfStart, long rows, long strideA, long strideB, long hfStride) {

    public Run(MemorySegment a, long offA, DType dtA, MemorySegment b, long offB, DType dtB, long count, long hfStart) {
        this(a, offA, dtA, b, offB, dtB, count, hfStart, 1, 0, 0, 0);
    }

    public long elements() {
        return count * rows;
    }

    /** Row {@code i} as a one-row run. */
    public Run row(long i) {
        return new Run(a, offA + i * strideA, dtA, b, offB + i * strideB, dtB, count, hfStart + i * hfStride);
    }
}
