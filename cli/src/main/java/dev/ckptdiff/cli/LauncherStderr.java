package dev.ckptdiff.cli;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

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

    static void restore() {
        String fd = System.getenv("CKPTDIFF_STDERR_FD");
        String prelog = System.getenv("CKPTDIFF_PRELOG");
        if (fd == null || prelog == null) {
            return;
        }
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
                    System.err.println(line);
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
