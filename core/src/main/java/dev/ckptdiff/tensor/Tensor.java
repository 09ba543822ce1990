package dev.ckptdiff.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A tensor as it lies in a mapped file: a storage segment, an element offset into it, a shape and
 * strides (in elements). Nothing is copied; the reader that made it has checked that every element
 * the shape and strides reach lies inside the storage.
 *
 * @param name    the key it was stored under
 * @param origin  where it came from, for reports: a file, and for Megatron the rank folder
 */
public record Tensor(String name, DType dtype, long[] shape, long[] stride, MemorySegment storage,
                     long storageOffset, String origin) {

    public static Tensor contiguous(String name, DType dtype, long[] shape, MemorySegment data, String origin) {
        return new Tensor(name, dtype, shape, rowMajorStrides(shape), data, 0, origin);
    }

    public long numel() {
        return Shapes.numel(shape);
    }

    public long byteSize() {
        return numel() * dtype.size();
    }

    public int rank() {
        return shape.length;
    }

    public boolean isContiguous() {
        return Arrays.equals(stride, rowMajorStrides(shape)) || numel() <= 1;
    }

    /** The bytes of a contiguous tensor, in order. */
    public MemorySegment bytes() {
        if (!isContiguous()) {
            throw new IllegalStateException(name + " is not contiguous");
        }
        return storage.asSlice(storageOffset * dtype.size(), byteSize());
    }

    /** Byte offset in {@link #storage()} of the element with this row-major flat index. */
    public long byteOffsetOf(long flatIndex) {
        long off = storageOffset;
        long rest = flatIndex;
        for (int d = shape.length - 1; d >= 0; d--) {
            long i = rest % shape[d];
            rest /= shape[d];
            off += i * stride[d];
        }
        return off * dtype.size();
    }

    public double get(long flatIndex) {
        return dtype.read(storage, byteOffsetOf(flatIndex));
    }

    public String shapeString() {
        return Shapes.toString(shape);
    }

    public static long[] rowMajorStrides(long[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            s[d] = acc;
            acc *= Math.max(shape[d], 1);
        }
        return s;
    }
}
