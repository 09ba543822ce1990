package dev.ckptdiff.convert;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.InputPaths;

/**
 * An output folder that appears whole or not at all: everything is written under a temporary
 * sibling {@code .NAME.partial-PID}, which is renamed to the target when complete. An existing
 * target is only replaced with {@code force}, and never when it is, holds or lies inside an input;
 * free disk space is checked before anything is written. The temporary folder is removed when the
 * process is stopped (TERM, INT) and, after a kill that ran no hook, by the next run.
 */
public final class OutputFolder implements AutoCloseable {
    /** Where to write, whether an existing folder may be replaced, and where to say what was cleaned up. */
    public record Target(Path path, boolean force, Consumer<String> warnings) {
        public Target(Path path, boolean force) {
            this(path, force, w -> { });
        }
    }

    /** Kept free beyond the output: file systems misbehave when full. */
    private static final long HEADROOM = 64L << 20;

    private final Path target;
    private final Path tmp;
    private final boolean force;
    private final InputPaths inputs;
    private final Thread hook;
    private boolean committed;
    private boolean keep;

    private OutputFolder(Path target, Path tmp, boolean force, InputPaths inputs) {
        this.target = target;
        this.tmp = tmp;
        this.force = force;
        this.inputs = inputs;
        this.hook = new Thread(this::abandon, "remove " + tmp.getFileName());
    }

    public static OutputFolder create(Target t, InputPaths inputs, long bytesNeeded) {
        inputs.refuseOverlap("--out", t.path());
        refuseWorkingFolders(t.path());
        Path abs = t.path().toAbsolutePath().normalize();
        if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS) && !t.force()) {
            throw BadInputException.in(abs, "already exists; choose another --out or pass --force to replace it");
        }
        Path parent = abs.getParent();
        try {
            Files.createDirectories(parent);
            reclaimStale(parent, abs, inputs, t.warnings());
            long free = Files.getFileStore(parent).getUsableSpace();
            if (bytesNeeded < 0 || free < Math.addExact(bytesNeeded, HEADROOM)) {
                throw BadInputException.in(parent, "has " + free / (1L << 20) + " MiB free; the output needs "
                        + bytesNeeded / (1L << 20) + " MiB");
            }
            Path tmp = parent.resolve(partialName(abs, ProcessHandle.current().pid()));
            if (inputs.overlaps(tmp)) {
                throw BadInputException.in(tmp, "is an input; not used as the temporary output folder");
            }
            deleteTree(tmp); // a folder of an earlier process that had our PID
            Files.createDirectory(tmp);
            OutputFolder f = new OutputFolder(abs, tmp, t.force(), inputs);
            Runtime.getRuntime().addShutdownHook(f.hook);
            return f;
        } catch (ArithmeticException e) {
            throw BadInputException.in(parent, "the output's size " + bytesNeeded + " bytes is beyond any disk");
        } catch (IOException e) {
            throw BadInputException.io(parent, "create the output", e);
        }
    }

    /** {@code --out . --force} or {@code --out ~ --force}, typed carelessly, would replace the folders one works in. */
    private static void refuseWorkingFolders(Path target) {
        Path real = InputPaths.resolve(target);
        for (String[] w : new String[][]{{"user.dir", "the current folder"}, {"user.home", "your home folder"}}) {
            String folder = System.getProperty(w[0]);
            if (folder != null && !folder.isEmpty() && InputPaths.resolve(Path.of(folder)).startsWith(real)) {
                throw new BadInputException("--out " + target + " holds " + w[1] + " (" + folder + "); choose a folder"
                        + " of its own for the output");
            }
        }
    }

    static String partialName(Path target, long pid) {
        return "." + target.getFileName() + ".partial-" + pid;
    }

    private static String oldName(Path target, long pid) {
        return "." + target.getFileName() + ".old-" + pid;
    }

    /**
     * Removes the temporary folders of conversions to the same target whose process is gone (killed
     * with no chance to clean up). A previous output set aside while being replaced is only removed
     * once its replacement is in place.
     */
    private static void reclaimStale(Path parent, Path target, InputPaths inputs, Consumer<String> warnings)
            throws IOException {
        String partial = partialName(target, 0).replaceFirst("0$", "");
        String old = oldName(target, 0).replaceFirst("0$", "");
        List<Path> entries;
        try (Stream<Path> s = Files.list(parent)) {
            entries = s.filter(p -> p.getFileName().toString().startsWith(partial)
                    || p.getFileName().toString().startsWith(old)).toList();
        }
        for (Path p : entries) {
            String n = p.getFileName().toString();
            boolean isPartial = n.startsWith(partial);
            String digits = n.substring((isPartial ? partial : old).length());
            if (!digits.matches("[0-9]{1,18}")) {
                continue;
            }
            long pid = Long.parseLong(digits);
            if (pid == ProcessHandle.current().pid() || ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
                    || inputs.overlaps(p) || (!isPartial && !Files.exists(target, LinkOption.NOFOLLOW_LINKS))) {
                continue;
            }
            deleteTree(p);
            warnings.accept("removed " + p + ", left behind by process " + pid + " which is no longer running");
        }
    }

    /** Where to write: a temporary folder until {@link #commit()}. */
    public Path dir() {
        return tmp;
    }

    public Path target() {
        return target;
    }

    /** Leaves the temporary folder in place on close (for a user to inspect a failed output). */
    public synchronized void keep() {
        keep = true;
    }

    public synchronized void commit() {
        inputs.refuseOverlap("--out", target); // it may have been replaced by a link meanwhile
        try {
            if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                if (!force) {
                    throw BadInputException.in(target, "appeared while converting; not replaced without --force");
                }
                Path old = target.resolveSibling(oldName(target, ProcessHandle.current().pid()));
                deleteTree(old);
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                committed = true;
                try {
                    deleteTree(old);
                } catch (IOException e) {
                    // the new output is in place; the next run reclaims what is left of the old one
                }
            } else {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                committed = true;
            }
        } catch (IOException e) {
            throw BadInputException.io(target, "move the finished output into place", e);
        }
    }

    /** Removes the temporary folder unless it was committed or kept; run on close and on TERM/INT. */
    private synchronized void abandon() {
        if (committed || keep) {
            return;
        }
        // The conversion keeps running while shutdown hooks do, and may add a file under the tree
        // being deleted; it cannot re-create the folder itself once it is gone (writers create one
        // level at a time), so deleting until it is gone is enough.
        for (int attempt = 0; attempt < 500 && Files.exists(tmp, LinkOption.NOFOLLOW_LINKS); attempt++) {
            try {
                deleteTree(tmp);
            } catch (IOException e) {
                try {
                    Thread.sleep(2);
                } catch (InterruptedException stop) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    @Override
    public void close() {
        abandon();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway, and finds nothing left to do
        }
    }

    /** Deletes a tree without following links: a link inside (or the root itself) is removed, never its target. */
    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Files.walkFileTree(p, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                if (exc != null) {
                    throw exc;
                }
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
