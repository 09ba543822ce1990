package dev.ckptdiff.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.ckptdiff.diff.Assembled;
import dev.ckptdiff.diff.Piece;
import dev.ckptdiff.diff.Source;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.OutputBytes;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Tensor;

/** Output streaming stays within its window whatever the shape, and byte counts never wrap. */
class FillTest {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    /** A [rows, cols] BF16 view whose rows all share one stored row (stride 0), as torch's expand makes. */
    private static Tensor expandedRows(Arena arena, String name, long rows, long cols, int seed) {
        MemorySegment row = arena.allocate(cols * 2);
        for (long c = 0; c < cols; c++) {
            row.set(SHORT, 2 * c, (short) (c * 31 + seed));
        }
        return new Tensor(name, DType.BF16, new long[]{rows, cols}, new long[]{0, 1}, row, 0, "test");
    }

    @Test
    void rowsWiderThanTheWindowAreWrittenInPiecesFromTwoSources() {
        long rows = 3;
        long cols = 6_000_000; // 12 MB a row, beyond the 8 MiB window
        long half = cols / 2;
        try (Arena arena = Arena.ofConfined()) {
            Tensor left = expandedRows(arena, "left", rows, half, 1);
            Tensor right = expandedRows(arena, "right", rows, cols - half, 7);
            Source s = new Source("t", "", "", "");
            List<Fill.Region> regions = List.of(
                    new Fill.Region(Assembled.single("left", Piece.whole(left, s)), 0, 0, rows, half, 0, 0),
                    new Fill.Region(Assembled.single("right", Piece.whole(right, s)), 0, 0, rows, cols - half, 0, half));
            long[] next = {0};
            long[] largest = {0};
            Fill.stream(regions, rows, cols, DType.BF16, (off, bytes) -> {
                assertEquals(next[0], off, "in order, without gaps");
                largest[0] = Math.max(largest[0], bytes.byteSize());
                for (long i = 0; i < bytes.byteSize() / 2; i++) {
                    long c = (off / 2 + i) % cols;
                    short want = c < half ? (short) (c * 31 + 1) : (short) ((c - half) * 31 + 7);
                    if (bytes.get(SHORT, 2 * i) != want) {
                        throw new AssertionError("element " + (off / 2 + i));
                    }
                }
                next[0] += bytes.byteSize();
            });
            assertEquals(rows * cols * 2, next[0]);
            assertTrue(largest[0] <= 8L << 20, "window " + largest[0]);
        }
    }

    @Test
    void byteCountsThatOverflowAreRefusedNamingTheTensor() {
        BadInputException e = assertThrows(BadInputException.class,
                () -> OutputBytes.of("model.norm.weight", new long[]{1L << 62}, 2));
        assertTrue(e.getMessage().startsWith("model.norm.weight: shape [4611686018427387904] × 2 bytes"), e.getMessage());
        assertThrows(BadInputException.class, () -> OutputBytes.of("x", new long[]{1L << 32, 1L << 32}, 1));
        assertThrows(BadInputException.class, () -> OutputBytes.add(Long.MAX_VALUE - 1, 2, "x"));
        assertEquals(12, OutputBytes.of("x", new long[]{2, 3}, 2));
        assertEquals(0, OutputBytes.of("x", new long[]{0, 1L << 62}, 2), "no elements, no bytes");
    }
}
