package dev.ckptdiff.diff;

/**
 * Does the arithmetic of a comparison. Implementations must give the same counts, indexes and
 * maxima as {@link ScalarEngine}, and sums equal to rounding; they may be called from many threads.
 */
public interface ComputeEngine extends AutoCloseable {
    String name();

    void compare(Run run, Tolerance tol, Stats into);

    @Override
    default void close() {
    }
}
