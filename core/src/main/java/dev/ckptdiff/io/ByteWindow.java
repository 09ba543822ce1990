package dev.ckptdiff.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Sequential reads of small fields from a (mapped) segment through a window copied into an array:
 * pickles and zip central directories are tens of thousands of few-byte fields, read while the JIT
 * has yet to compile the readers, and an array access costs far less than a segment access then.
 * Callers check that what they read lies in the segment; not for concurrent use.
 */
public final class ByteWindow {
    private static final int SIZE = 1 << 16;
    private final MemorySegment data;
    private final byte[] window = new byte[SIZE];
    /** {@code window[i]} is byte {@code start + i} of the segment, for i below {@code length}. */
    private long start;
    private int length;

    public ByteWindow(MemorySegment data) {
        this.data = data;
    }

    /** The byte at {@code p}, unsigned. */
    public int u8(long p) {
        long i = p - start;
        if (i < 0 || i >= length) {
            fill(p);
            i = 0;
        }
        return window[(int) i] & 0xff;
    }

    /** The {@code n} (at most 8) bytes at {@code p} as an unsigned little-endian number (all 64 bits for 8). */
    public long le(long p, int n) {
        long v = 0;
        for (int i = 0; i < n; i++) { // in file order: a field across the window's end refills it once
            v |= (long) u8(p + i) << (8 * i);
        }
        return v;
    }

    /** A copy of the {@code n} bytes at {@code p}. */
    public byte[] bytes(long p, int n) {
        if (n > SIZE) {
            return data.asSlice(p, n).toArray(ValueLayout.JAVA_BYTE);
        }
        if (p < start || p + n > start + length) {
            fill(p);
        }
        return Arrays.copyOfRange(window, (int) (p - start), (int) (p - start) + n);
    }

    public String utf8(long p, int n) {
        return new String(bytes(p, n), StandardCharsets.UTF_8);
    }

    private void fill(long p) {
        start = p;
        length = (int) Math.min(SIZE, data.byteSize() - p);
        MemorySegment.copy(data, ValueLayout.JAVA_BYTE, p, window, 0, length);
    }
}
