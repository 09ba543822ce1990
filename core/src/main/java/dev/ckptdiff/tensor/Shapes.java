package dev.ckptdiff.tensor;

import java.util.Arrays;
import java.util.stream.Collectors;

/** Shape arithmetic that refuses to overflow, since shapes come from untrusted headers. */
public final class Shapes {
    private Shapes() {
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** The element count, or -1 when a dimension is negative or the product overflows a long. */
    public static long checkedNumel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                return -1;
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                return -1;
            }
        }
        return n;
    }

    /** {@code numel * elementSize}, or -1 on overflow. */
    public static long checkedBytes(long[] shape, int elementSize) {
        long n = checkedNumel(shape);
        if (n < 0) {
            return -1;
        }
        try {
            return Math.multiplyExact(n, elementSize);
        } catch (ArithmeticException e) {
            return -1;
        }
    }

    public static String toString(long[] shape) {
        return Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining(", ", "[", "]"));
    }

    /** A flat row-major index as a multi-index, e.g. {@code [3, 17]}. */
    public static String index(long flat, long[] shape) {
        long[] idx = new long[shape.length];
        long rest = flat;
        for (int d = shape.length - 1; d >= 0; d--) {
            long dim = Math.max(shape[d], 1);
            idx[d] = rest % dim;
            rest /= dim;
        }
        return toString(idx);
    }
}
