package dev.ckptdiff.io;

import dev.ckptdiff.tensor.Shapes;

/**
 * Byte counts of what a writer is about to write. Shapes come from untrusted files (an expanded
 * view lets two stored bytes claim 2^62 elements), so a count that overflows is refused before
 * anything is written rather than wrapped into a small or negative size that passes the
 * free-space check.
 */
public final class OutputBytes {
    private OutputBytes() {
    }

    /** The bytes of a dense tensor of {@code shape}. */
    public static long of(String name, long[] shape, int itemSize) {
        long b = Shapes.checkedBytes(shape, itemSize);
        if (b < 0) {
            throw new BadInputException(name + ": shape " + Shapes.toString(shape) + " × " + itemSize
                    + " bytes is more than any file can hold; refusing to write it");
        }
        return b;
    }

    public static long add(long total, long more, String name) {
        try {
            return Math.addExact(total, more);
        } catch (ArithmeticException e) {
            throw new BadInputException(name + ": the output's size passes 2^63 bytes; refusing to write it");
        }
    }
}
