package dev.ckptdiff.cli;

import java.io.PrintWriter;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/** A progress bar on stderr for long runs, drawn only on a terminal. */
final class Progress implements LongConsumer, AutoCloseable {
    private static final long MIN_BYTES = 512L << 20;
    private final PrintWriter err;
    private final boolean enabled;
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong total = new AtomicLong();
    private final long start = System.nanoTime();
    private Thread painter;

    Progress(PrintWriter err, boolean enabled) {
        this.err = err;
        this.enabled = enabled && System.console() != null;
    }

    void addTotal(long bytes) {
        total.addAndGet(bytes);
        if (enabled && painter == null && total.get() >= MIN_BYTES) {
            painter = Thread.ofPlatform().daemon().name("progress").start(this::paintLoop);
        }
    }

    @Override
    public void accept(long bytes) {
        done.addAndGet(bytes);
    }

    private void paintLoop() {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(250);
                paint();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void paint() {
        long t = Math.max(1, total.get());
        long d = Math.min(done.get(), t);
        int width = 30;
        int filled = (int) (width * d / t);
        double secs = (System.nanoTime() - start) / 1e9;
        err.printf("\r[%s%s] %3d%%  %s / %s  %.1f GB/s ", "#".repeat(filled), ".".repeat(width - filled), 100 * d / t,
                Text.bytes(d), Text.bytes(t), d / Math.max(secs, 1e-3) / 1e9);
        err.flush();
    }

    @Override
    public void close() {
        if (painter != null) {
            painter.interrupt();
            try {
                painter.join(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            err.print("\r" + " ".repeat(78) + "\r");
            err.flush();
        }
    }
}
