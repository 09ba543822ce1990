package dev.ckptdiff.convert;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;

import dev.ckptdiff.io.BadInputException;

/**
 * An output folder that appears whole or not at all: everything is written under a temporary
 * sibling, which is renamed to the target when complete. An existing target is only replaced with
 * {@code force}; free disk space is checked before anything is written.
 */
public final class OutputFolder implements AutoCloseable {
    private final Path target;
    private final Path tmp;
    private final boolean force;
    private boolean committed;
    private boolean keep;

    private OutputFolder(Path target, Path tmp, boolean force) {
        this.target = target;
        this.tmp = tmp;
        this.force = force;
    }

    public static OutputFolder create(Path target, boolean force, long bytesNeeded) {
        Path abs = target.toAbsolutePath().normalize();
        if (Files.exists(abs) && !force) {
            throw BadInputException.in(abs, "already exists; choose another --out or pass --force to replace it");
        }
        Path parent = abs.getParent();
        try {
            Files.createDirectories(parent);
            long free = Files.getFileStore(parent).getUsableSpace();
            if (free < bytesNeeded + (64L << 20)) {
                throw BadInputException.in(parent, "has " + free / (1L << 20) + " MiB free; the output needs "
                        + bytesNeeded / (1L << 20) + " MiB");
            }
            Path tmp = parent.resolve("." + abs.getFileName() + ".partial-" + ProcessHandle.current().pid());
            deleteTree(tmp);
            Files.createDirectories(tmp);
            return new OutputFolder(abs, tmp, force);
        } catch (IOException e) {
            throw BadInputException.io(parent, "create the output", e);
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
    public void keep() {
        keep = true;
    }

    public void commit() {
        try {
            if (Files.exists(target)) {
                if (!force) {
                    throw BadInputException.in(target, "appeared while converting; not replaced without --force");
                }
                Path old = target.resolveSibling("." + target.getFileName() + ".old-" + ProcessHandle.current().pid());
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                deleteTree(old);
            } else {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            }
            committed = true;
        } catch (IOException e) {
            throw BadInputException.io(target, "move the finished output into place", e);
        }
    }

    @Override
    public void close() {
        if (!committed && !keep) {
            try {
                deleteTree(tmp);
            } catch (IOException ignored) {
                // a leftover temporary folder is visible and harmless
            }
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
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
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
