package dev.ckptdiff.diff;

import dev.ckptdiff.tensor.Tensor;
import dev.ckptdiff.tensor.Shapes;

/**
 * A rectangle of an HF-shaped tensor, seen as [rows, cols] (cols = product of the trailing dims),
 * whose elements lie in one source tensor starting at ({@code srcRow0}, {@code srcCol0}).
 */
public record Piece(Tensor src, Source source, long hfRow0, long hfCol0, long rows, long cols, long srcRow0,
                    long srcCol0) {

    public static Piece whole(Tensor t, Source source) {
        return new Piece(t, source, 0, 0, rowsOf(t.shape()), colsOf(t.shape()), 0, 0);
    }

    public static long rowsOf(long[] shape) {
        return shape.length == 0 ? 1 : shape[0];
    }

    public static long colsOf(long[] shape) {
        long c = 1;
        for (int i = 1; i < shape.length; i++) {
            c *= shape[i];
        }
        return c;
    }

    long srcCols() {
        return colsOf(src.shape());
    }

    /** The source's stride between rows, or -1 when its trailing dims are not contiguous. */
    long srcRowStride() {
        long[] shape = src.shape();
        long[] stride = src.stride();
        if (shape.length <= 1) {
            return shape.length == 0 ? 1 : stride[0];
        }
        long expect = 1;
        for (int d = shape.length - 1; d >= 1; d--) {
            if (shape[d] != 1 && stride[d] != expect) {
                return -1;
            }
            expect *= shape[d];
        }
        return stride[0];
    }

    /** True when each row's elements lie consecutively in the source (copyable as one run). */
    public boolean rowRunnable() {
        return srcRowStride() >= 0;
    }

    /** Byte offset in the source's storage of HF element (row, col), which must lie in this piece. */
    public long byteOffset(long row, long col) {
        long r = srcRow0 + row - hfRow0;
        long c = srcCol0 + col - hfCol0;
        long rowStride = srcRowStride();
        if (rowStride >= 0) {
            return (src.storageOffset() + r * rowStride + c) * src.dtype().size();
        }
        return src.byteOffsetOf(r * srcCols() + c);
    }

    /** The element's multi-index in the source tensor. */
    public String sourceIndex(long row, long col) {
        long flat = (srcRow0 + row - hfRow0) * srcCols() + (srcCol0 + col - hfCol0);
        return Shapes.index(flat, src.shape());
    }
}
