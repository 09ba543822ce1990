package dev.ckptdiff.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

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

    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;

    private MappedFile(Path path, Arena arena, MemorySegment segment) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
    }

    public static MappedFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment seg = size == 0 ? MemorySegment.NULL.reinterpret(0)
                    : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return new MappedFile(path, arena, seg);
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
        if (arena != null) {
            arena.close();
        }
    }
}
