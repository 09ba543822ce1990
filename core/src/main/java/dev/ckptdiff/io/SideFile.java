package dev.ckptdiff.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Small files read whole (config.json, index files, tracker files, YAML). Each kind has a cap far
 * above what real files reach, so that a huge or endless file is refused by size instead of filling
 * the heap; and only regular files are opened, because opening a FIFO blocks until a writer appears
 * and a device can be read forever.
 */
public final class SideFile {
    private SideFile() {
    }

    /** Refuses anything but a regular file (links are followed, as open would). */
    public static BasicFileAttributes requireRegular(Path file) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw BadInputException.in(file, "no such file");
        } catch (IOException e) {
            throw BadInputException.io(file, "be read", e);
        }
        if (!a.isRegularFile()) {
            throw BadInputException.in(file, a.isDirectory() ? "is a directory, expected a file"
                    : "is not a regular file (a FIFO, socket or device?); only regular files are read");
        }
        return a;
    }

    /** The bytes of {@code file}, refused when it holds more than {@code cap}; {@code what} names it in errors. */
    public static byte[] read(Path file, long cap, String what) {
        long size = requireRegular(file).size();
        if (size > cap) {
            throw tooBig(file, size, cap, what);
        }
        try (InputStream in = Files.newInputStream(file)) {
            // The file may grow after the size was read: never take more than cap + 1 bytes.
            byte[] b = in.readNBytes((int) cap + 1);
            if (b.length > cap) {
                throw tooBig(file, b.length, cap, what);
            }
            return b;
        } catch (IOException e) {
            throw BadInputException.io(file, "be read", e);
        }
    }

    private static BadInputException tooBig(Path file, long size, long cap, String what) {
        return BadInputException.in(file, "is " + size + " bytes; a real " + what + " is never larger than "
                + cap + " bytes, so this one is not read");
    }
}
