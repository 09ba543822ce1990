package dev.ckptdiff.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A whole file mapped read-only. The arena owns the mapping: closing this unmaps it, and any view
 * taken from it stops being usable. Reads are bounds-checked against the file so that a length or
 * offset read from a hostile header becomes a {@link BadInputException} naming the file and offset,
 * not an {@link IndexOutOfBoundsException} from deep inside a parser.
 */
public final class MappedFile implements AutoCloseable {
    public static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt INT_LE =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong LONG_LE =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Every mapping now open, so that a fault can be traced to the file that shrank under it. */
    private static final Set<MappedFile> OPEN = ConcurrentHashMap.newKeySet();

    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;

    private MappedFile(Path path, Arena arena, MemorySegment segment) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
    }

    public static MappedFile open(Path path) {
        SideFile.requireRegular(path); // opening a FIFO would block until something writes to it
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment seg = size == 0 ? MemorySegment.NULL.reinterpret(0)
                    : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            MappedFile f = new MappedFile(path, arena, seg);
            OPEN.add(f);
            return f;
        } catch (NoSuchFileException e) {
            arena.close();
            throw BadInputException.in(path, "no such file");
        } catch (IOException e) {
            arena.close();
            throw BadInputException.io(path, "be read", e);
        }
    }

    public Path path() {
        return path;
    }

    public long size() {
        return segment.byteSize();
    }

    public MemorySegment segment() {
        return segment;
    }

    /** A view of {@code length} bytes at {@code offset}; {@code what} names the region in errors. */
    public MemorySegment slice(long offset, long length, String what) {
        check(offset, length, what);
        return segment.asSlice(offset, length);
    }

    /**
     * A region of this file seen as a file of its own (offsets relative to its start), e.g. one
     * torch.save archive inside a {@code .distcp} file. Closing it leaves the mapping to its owner.
     */
    public MappedFile window(long offset, long length, String what) {
        return new MappedFile(path, null, slice(offset, length, what));
    }

    public void check(long offset, long length, String what) {
        if (offset < 0 || length < 0 || offset > size() || length > size() - offset) {
            throw BadInputException.at(path, offset, what + " of " + length
                    + " bytes runs past the end of the file (" + size() + " bytes)");
        }
    }

    public byte readByte(long offset, String what) {
        check(offset, 1, what);
        return segment.get(ValueLayout.JAVA_BYTE, offset);
    }

    public int readShortLE(long offset, String what) {
        check(offset, 2, what);
        return Short.toUnsignedInt(segment.get(SHORT_LE, offset));
    }

    public long readIntLE(long offset, String what) {
        check(offset, 4, what);
        return Integer.toUnsignedLong(segment.get(INT_LE, offset));
    }

    public long readLongLE(long offset, String what) {
        check(offset, 8, what);
        return segment.get(LONG_LE, offset);
    }

    public String readUtf8(long offset, int length, String what) {
        return new String(slice(offset, length, what).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        OPEN.remove(this);
        if (arena != null) {
            arena.close();
        }
    }

    /**
     * True for the error the JVM raises when a read of mapped memory faults (SIGBUS): the file was truncated after
     * it was mapped, typically by a training job rewriting the step we are reading.
     */
    public static boolean isFault(Throwable t) {
        return t instanceof InternalError && t.getMessage() != null && t.getMessage().contains("unsafe memory access");
    }

    /** The fault as bad input, naming the mapped file whose size on disk no longer matches what was mapped. */
    public static BadInputException fault(Throwable cause) {
        for (MappedFile f : OPEN) {
            long now;
            try {
                now = Files.size(f.path);
            } catch (IOException e) {
                now = -1;
            }
            if (now != f.size()) {
                return new BadInputException(f.path + ": changed while it was being read ("
                        + (now < 0 ? "it is gone" : now + " bytes now, " + f.size() + " when opened")
                        + "); was the step rewritten by a running job? Run again once it is written", cause);
            }
        }
        return new BadInputException("an input file changed while it was being read (a read of mapped memory failed);"
                + " was the step rewritten by a running job? Run again once it is written", cause);
    }
}
