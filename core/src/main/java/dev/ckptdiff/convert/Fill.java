package dev.ckptdiff.convert;

import java.lang.foreign.MemorySegment;

import dev.ckptdiff.diff.Assembled;
import dev.ckptdiff.diff.Piece;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Tensor;

/**
 * Copies a rectangle of an HF-shaped tensor out of its source pieces into a contiguous destination:
 * the same piece geometry that lets the diff compare shards with HF tensors lets converters write
 * either from the other. Bytes are copied as they are when the dtype stays; otherwise each value is
 * rounded to the target type.
 */
public final class Fill {
    private Fill() {
    }

    /**
     * @param src      the source tensor (HF names and shape)
     * @param r0       first HF row of the rectangle; rows beyond the source are zero-filled (padding)
     * @param c0       first HF column
     * @param dst      destination bytes; rectangle element (i, j) goes to row {@code dstRow0 + i},
     *                 column {@code dstCol0 + j} of a row-major [*, dstCols] tensor of {@code dstType}
     */
    public static void rect(Assembled src, long r0, long rows, long c0, long cols, MemorySegment dst, long dstRow0,
                            long dstCol0, long dstCols, DType dstType) {
        int ds = dstType.size();
        long srcRows = src.rows();
        if (r0 + rows > srcRows) { // vocabulary padding: zeros, as Megatron's converters write
            long from = Math.max(r0, srcRows);
            for (long r = from; r < r0 + rows; r++) {
                dst.asSlice(((dstRow0 + r - r0) * dstCols + dstCol0) * ds, cols * ds).fill((byte) 0);
            }
            rows = Math.max(0, srcRows - r0);
        }
        for (Piece p : src.pieces()) {
            long pr0 = Math.max(r0, p.hfRow0());
            long pr1 = Math.min(r0 + rows, p.hfRow0() + p.rows());
            long pc0 = Math.max(c0, p.hfCol0());
            long pc1 = Math.min(c0 + cols, p.hfCol0() + p.cols());
            if (pr1 <= pr0 || pc1 <= pc0) {
                continue;
            }
            Tensor t = p.src();
            long width = pc1 - pc0;
            for (long r = pr0; r < pr1; r++) {
                long dOff = ((dstRow0 + r - r0) * dstCols + dstCol0 + pc0 - c0) * ds;
                copy(t, p, r, pc0, width, dst, dOff, dstType);
            }
        }
    }

    private static void copy(Tensor t, Piece p, long row, long col, long n, MemorySegment dst, long dOff, DType dstType) {
        boolean contiguousRow = p.rowRunnable();
        if (contiguousRow && t.dtype() == dstType) {
            MemorySegment.copy(t.storage(), p.byteOffset(row, col), dst, dOff, n * dstType.size());
            return;
        }
        for (long j = 0; j < n; j++) {
            long from = p.byteOffset(row, col + j);
            if (t.dtype() == dstType) {
                MemorySegment.copy(t.storage(), from, dst, dOff + j * dstType.size(), dstType.size());
            } else {
                dstType.write(dst, dOff + j * dstType.size(), t.dtype().read(t.storage(), from));
            }
        }
    }
}
