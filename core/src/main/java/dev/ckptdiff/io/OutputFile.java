package dev.ckptdiff.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A file written through a read-write mapping of its final size: writers lay their output out
 * first, then fill it in place, so a multi-gigabyte output costs page cache, not heap or private
 * memory. The caller writes into a temporary folder and renames it when everything is complete.
 */
public final class OutputFile implements AutoCloseable {
    private final Path path;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment segment;

    private OutputFile(Path path, long size) {
        this.path = path;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ch.truncate(0);
            if (size > 0) {
                ch.position(size - 1);
                ch.write(java.nio.ByteBuffer.wrap(new byte[1]));
            }
            this.segment = size == 0 ? MemorySegment.NULL.reinterpret(0) : ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
        } catch (IOException e) {
            arena.close();
            throw new BadInputException(path + ": cannot be written: " + e.getMessage());
        }
    }

    public static OutputFile create(Path path, long size) {
        return new OutputFile(path, size);
    }

    public MemorySegment segment() {
        return segment;
    }

    public Path path() {
        return path;
    }

    /** Flushes the mapping to disk. */
    public void finish() {
        if (segment.byteSize() > 0) {
            segment.force();
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
