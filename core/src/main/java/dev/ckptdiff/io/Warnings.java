package dev.ckptdiff.io;

import java.util.function.Consumer;

/**
 * Where readers say what they had to assume (a layout inferred from folder names, ...): the CLI
 * points this at stderr for the length of one run. Readers run on worker threads, hence one
 * process-wide sink rather than a thread-local one.
 */
public final class Warnings {
    private static volatile Consumer<String> sink = m -> { };

    private Warnings() {
    }

    public static void emit(String message) {
        sink.accept(message);
    }

    /** A redirection that ends when closed. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** Sends warnings to {@code to} until the returned scope is closed, then restores the previous sink. */
    public static Scope to(Consumer<String> to) {
        Consumer<String> previous = sink;
        // A copy opened twice (A and B of one diff) says the same thing once.
        java.util.Set<String> said = java.util.concurrent.ConcurrentHashMap.newKeySet();
        sink = m -> {
            if (said.add(m)) {
                to.accept(m);
            }
        };
        return () -> sink = previous;
    }
}
