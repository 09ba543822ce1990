package dev.ckptdiff.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * The JDK prints "WARNING: Using incubator modules: jdk.incubator.vector" on stderr before main whenever the vector
 * module is resolved, and has no switch to silence it. The launcher therefore starts the JVM with its real stderr
 * parked on another descriptor ({@code CKPTDIFF_STDERR_FD}) and stderr pointed at a scratch file
 * ({@code CKPTDIFF_PRELOG}); here, first thing in main, the real stderr is put back with dup2 and whatever the JVM
 * said before main, that one known line aside, is passed on. Nothing the user needs is lost, and nothing else changes:
 * the restored descriptor is the caller's own (terminal, pipe or file, with its offset).
 */
final class LauncherStderr {
    private static final String INCUBATOR_WARNING = "WARNING: Using incubator modules: jdk.incubator.vector";
    private static final long MAX_PRELOG = 1 << 16;

    private LauncherStderr() {
    }

    /** Released once stderr is the caller's again (or could not be made so). */
    private static final CountDownLatch RESTORED = new CountDownLatch(1);

    /**
     * Puts the caller's stderr back on a background thread: binding dup2 through the foreign linker costs ~0.1 s of
     * start-up, which the real work need not wait for. Until it is done, writes to {@link System#err} wait.
     */
    static void restoreInBackground() {
        String fd = System.getenv("CKPTDIFF_STDERR_FD");
        String prelog = System.getenv("CKPTDIFF_PRELOG");
        if (fd == null || prelog == null) {
            RESTORED.countDown();
            return;
        }
        PrintStream real = System.err;
        Thread.ofPlatform().daemon().name("ckpt-diff-stderr").start(() -> {
            try {
                restore(fd, prelog, real);
            } finally {
                RESTORED.countDown();
            }
        });
        System.setErr(new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                awaitRestored();
                real.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                awaitRestored();
                real.write(b, off, len);
            }

            @Override
            public void flush() {
                awaitRestored();
                real.flush();
            }
        }, true, real.charset()));
    }

    /** Waits until stderr is restored; main calls it before exiting, so the scratch file is always dealt with. */
    static void awaitRestored() {
        boolean interrupted = false;
        while (true) {
            try {
                RESTORED.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static void restore(String fd, String prelog, PrintStream err) {
        try {
            int saved = Integer.parseInt(fd);
            Linker linker = Linker.nativeLinker();
            FunctionDescriptor intInt = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT);
            MethodHandle dup2 = linker.downcallHandle(linker.defaultLookup().find("dup2").orElseThrow(), intInt);
            MethodHandle close = linker.downcallHandle(linker.defaultLookup().find("close").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            if ((int) dup2.invokeExact(saved, 2) < 0) {
                return; // stderr stays on the scratch file; the launcher's fallback shows it
            }
            int ignored = (int) close.invokeExact(saved);
        } catch (Throwable e) {
            return;
        }
        Path p = Path.of(prelog);
        try (InputStream in = Files.newInputStream(p)) {
            String before = new String(in.readNBytes((int) MAX_PRELOG), StandardCharsets.UTF_8);
            for (String line : before.split("\n", -1)) {
                if (!line.isEmpty() && !line.equals(INCUBATOR_WARNING)) {
                    err.println(line);
                }
            }
        } catch (IOException e) {
            // nothing was said before main, or the scratch file is gone: either way nothing to pass on
        } finally {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                // a scratch file left in the temporary folder is harmless
            }
        }
    }
}
