package dev.ckptdiff.convert;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.ckptdiff.diff.Assembled;
import dev.ckptdiff.diff.Piece;
import dev.ckptdiff.io.Sink;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Tensor;

/**
 * Produces an output tensor's bytes from source tensors: the same piece geometry that lets the diff
 * compare shards with HF tensors lets the converters write either from the other. A destination
 * [rows, cols] tensor is assembled a window of rows at a time in a small buffer and handed on,
 * so memory stays bounded whatever the tensor's size. Bytes are copied as they are when the dtype
 * stays; otherwise each value is rounded to the target type.
 */
public final class Fill {
    private static final long WINDOW = 8L << 20;

    /**
     * Destination rows [dstRow0, dstRow0 + rows) × columns [dstCol0, + cols) come from HF rows
     * [hfRow0, ...) × columns [hfCol0, ...) of {@code from}; HF rows beyond {@code from} are zeros.
     */
    public record Region(Assembled from, long hfRow0, long hfCol0, long rows, long cols, long dstRow0, long dstCol0) {
        static Region whole(Assembled from, long rows, long cols) {
            return new Region(from, 0, 0, rows, cols, 0, 0);
        }
    }

    private Fill() {
    }

    /**
     * Streams a row-major [rows, cols] tensor of {@code dtype} assembled from {@code regions} into
     * {@code sink}: several whole rows per window, or, for a row wider than a window, a row in pieces.
     */
    public static void stream(List<Region> regions, long rows, long cols, DType dtype, Sink sink) {
        if (rows == 0 || cols == 0) {
            return;
        }
        int ds = dtype.size();
        long rowBytes = cols * ds; // the caller counted rows × cols × ds without overflow
        long colsPerWindow = Math.min(cols, Math.max(1, WINDOW / ds));
        long perWindow = colsPerWindow < cols ? 1 : Math.max(1, WINDOW / rowBytes);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(Math.min(rows, perWindow) * colsPerWindow * ds, 64);
            for (long w = 0; w < rows; w += perWindow) {
                long n = Math.min(perWindow, rows - w);
                for (long c = 0; c < cols; c += colsPerWindow) {
                    long m = Math.min(colsPerWindow, cols - c);
                    MemorySegment window = buf.asSlice(0, n * m * ds);
                    for (Region g : regions) {
                        long r0 = Math.max(w, g.dstRow0());
                        long r1 = Math.min(w + n, g.dstRow0() + g.rows());
                        long c0 = Math.max(c, g.dstCol0());
                        long c1 = Math.min(c + m, g.dstCol0() + g.cols());
                        if (r1 > r0 && c1 > c0) {
                            rect(g.from(), g.hfRow0() + r0 - g.dstRow0(), r1 - r0, g.hfCol0() + c0 - g.dstCol0(), c1 - c0,
                                    window, r0 - w, c0 - c, m, dtype);
                        }
                    }
                    sink.write(w * rowBytes + c * ds, window);
                }
            }
        }
    }

    /** Copies one rectangle of {@code src} into row {@code dstRow0}, column {@code dstCol0} of {@code dst}. */
    static void rect(Assembled src, long r0, long rows, long c0, long cols, MemorySegment dst, long dstRow0,
                     long dstCol0, long dstCols, DType dstType) {
        int ds = dstType.size();
        long srcRows = src.rows();
        if (r0 + rows > srcRows) { // vocabulary padding: zeros, as Megatron's converters write
            for (long r = Math.max(r0, srcRows); r < r0 + rows; r++) {
                dst.asSlice(((dstRow0 + r - r0) * dstCols + dstCol0) * ds, cols * ds).fill((byte) 0);
            }
            rows = Math.max(0, srcRows - r0);
        }
        for (Piece p : src.pieces()) {
            long pr0 = Math.max(r0, p.hfRow0());
            long pr1 = Math.min(r0 + rows, p.hfRow0() + p.rows());
            long pc0 = Math.max(c0, p.hfCol0());
            long pc1 = Math.min(c0 + cols, p.hfCol0() + p.cols());
            for (long r = pr0; r < pr1 && pc1 > pc0; r++) {
                copy(p, r, pc0, pc1 - pc0, dst, ((dstRow0 + r - r0) * dstCols + dstCol0 + pc0 - c0) * ds, dstType);
            }
        }
    }

    private static void copy(Piece p, long row, long col, long n, MemorySegment dst, long dOff, DType dstType) {
        Tensor t = p.src();
        if (p.rowRunnable() && t.dtype() == dstType) {
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
