package dev.ckptdiff.diff;

/**
 * Does the arithmetic of a comparison. Implementations must give the same counts, indexes and
 * maxima as {@link ScalarEngine}, and sums equal to rounding; they may be called from many threads.
 */
public interface ComputeEngine extends AutoCloseable {
    String name();

    /**
     * Compares one run. With {@code screen}, an engine may settle a run whose bytes are identical
     * (same dtype) without decoding it; it then counts the elements in {@link Stats#normsSkipped},
     * and the caller recomputes with {@code screen} false if the tensor turns out to differ.
     */
    void compare(Run run, Tolerance tol, Stats into, boolean screen);

    @Override
    default void close() {
    }
}
