package dev.ckptdiff.io;

import java.util.HashSet;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Warnings about inputs that are read but look suspicious (two copies of the weights in one
 * folder). The CLI points the sink at its stderr for the duration of a run; each distinct warning is
 * shown once per run, since one folder can be opened several times.
 */
public final class Warnings {
    private static Consumer<String> sink = System.err::println;
    private static final Set<String> SHOWN = new HashSet<>();

    private Warnings() {
    }

    public static synchronized void warn(String message) {
        if (SHOWN.add(message)) {
            sink.accept("ckpt-diff: warning: " + message);
        }
    }

    /** A redirection in force until closed. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** Sends warnings to {@code to} until the returned handle is closed. */
    public static synchronized Scope to(Consumer<String> to) {
        Consumer<String> before = sink;
        sink = to;
        SHOWN.clear();
        return () -> {
            synchronized (Warnings.class) {
                sink = before;
                SHOWN.clear();
            }
        };
    }
}
