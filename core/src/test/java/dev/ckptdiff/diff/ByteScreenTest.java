package dev.ckptdiff.diff;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import dev.ckptdiff.tensor.DType;

/** The screen settles only identical, finite runs: on both of its paths (small rows in arrays, large rows in place). */
class ByteScreenTest {
    @Test
    void identicalFiniteRunsPassAndAnyDifferenceOrNonFiniteValueFails() {
        Random rnd = new Random(5);
        // element counts around the small-row limit (8192 words) and with a ragged tail; odd byte offsets
        for (DType t : List.of(DType.BF16, DType.F16, DType.F32, DType.F64)) {
            for (long n : new long[]{1, 3, 1000, 8192 * 8 / t.size() - 1, 8192 * 8 / t.size(), 8192 * 8 / t.size() + 3,
                    70_001}) {
                try (Arena arena = Arena.ofConfined()) {
                    long off = 3;
                    MemorySegment a = arena.allocate(n * t.size() + off);
                    MemorySegment b = arena.allocate(n * t.size() + off);
                    for (long i = 0; i < n; i++) {
                        double v = rnd.nextGaussian();
                        t.write(a, off + i * t.size(), v);
                        t.write(b, off + i * t.size(), v);
                    }
                    Run run = new Run(a, off, t, b, off, t, n, 0);
                    assertTrue(ByteScreen.identicalAndFinite(run), t + " n=" + n);
                    for (long at : new long[]{0, n / 2, n - 1}) {
                        long pos = off + at * t.size();
                        double keep = t.read(b, pos);
                        t.write(b, pos, keep + 1);
                        assertFalse(ByteScreen.identicalAndFinite(run), t + " n=" + n + " differs at " + at);
                        t.write(b, pos, keep);
                        for (double bad : new double[]{Double.NaN, Double.POSITIVE_INFINITY}) {
                            double was = t.read(a, pos);
                            t.write(a, pos, bad);
                            t.write(b, pos, bad);
                            assertFalse(ByteScreen.identicalAndFinite(run), t + " n=" + n + " " + bad + " at " + at);
                            t.write(a, pos, was);
                            t.write(b, pos, was);
                        }
                    }
                    assertTrue(ByteScreen.identicalAndFinite(run), t + " n=" + n + " restored");
                }
            }
        }
    }

    @Test
    void rowsWithStridesAreScreenedRowByRow() {
        try (Arena arena = Arena.ofConfined()) {
            int rows = 4;
            int cols = 100;
            MemorySegment a = arena.allocate(2L * rows * 2 * cols);
            MemorySegment b = arena.allocate(2L * rows * cols);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    DType.BF16.write(a, 2L * (r * 2 * cols + c), r + c * 0.5);
                    DType.BF16.write(a, 2L * (r * 2 * cols + cols + c), 1e30); // the half of each row not compared
                    DType.BF16.write(b, 2L * (r * cols + c), r + c * 0.5);
                }
            }
            Run run = new Run(a, 0, DType.BF16, b, 0, DType.BF16, cols, 0, rows, 4L * cols, 2L * cols, cols);
            assertTrue(ByteScreen.identicalAndFinite(run));
            DType.BF16.write(b, 2L * (3 * cols + 99), 7);
            assertFalse(ByteScreen.identicalAndFinite(run));
        }
    }
}
