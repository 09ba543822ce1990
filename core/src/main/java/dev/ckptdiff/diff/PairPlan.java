package dev.ckptdiff.diff;

import dev.ckptdiff.tensor.Tensor;

/**
 * The overlap of one piece of A with one piece of B: a rectangle of the HF tensor whose elements
 * are compared as runs of consecutive elements, either one long run (whole contiguous rows on both
 * sides) or one run per row.
 */
final class PairPlan {
    final Piece pa;
    final Piece pb;
    final long r0;
    final long c0;
    final long rows;
    final long cols;
    final long hfCols;
    final boolean flat;
    final boolean rowRuns;

    PairPlan(Piece pa, Piece pb, long r0, long c0, long rows, long cols, long hfCols) {
        this.pa = pa;
        this.pb = pb;
        this.r0 = r0;
        this.c0 = c0;
        this.rows = rows;
        this.cols = cols;
        this.hfCols = hfCols;
        // One flat run needs the block contiguous in the HF tensor too (its element indices are reported):
        // two pieces of the same column split (TP shards against their replicas) are not.
        boolean fullRows = cols == pa.srcCols() && cols == pb.srcCols() && cols == hfCols;
        this.flat = fullRows && pa.srcRowStride() == pa.srcCols() && pb.srcRowStride() == pb.srcCols();
        this.rowRuns = pa.srcRowStride() >= 0 && pb.srcRowStride() >= 0;
    }

    /** The intersection of two pieces limited to {@code maxRows}, or null if they do not overlap. */
    static PairPlan of(Piece a, Piece b, long maxRows, long hfCols) {
        long r0 = Math.max(a.hfRow0(), b.hfRow0());
        long r1 = Math.min(Math.min(a.hfRow0() + a.rows(), b.hfRow0() + b.rows()), maxRows);
        long c0 = Math.max(a.hfCol0(), b.hfCol0());
        long c1 = Math.min(a.hfCol0() + a.cols(), b.hfCol0() + b.cols());
        if (r1 <= r0 || c1 <= c0) {
            return null;
        }
        return new PairPlan(a, b, r0, c0, r1 - r0, c1 - c0, hfCols);
    }

    long elements() {
        return rows * cols;
    }

    /** Work is split in units: elements when flat, rows otherwise. */
    long units() {
        return flat ? rows * cols : rows;
    }

    long elementsPerUnit() {
        return flat ? 1 : cols;
    }

    void execute(long from, long to, ComputeEngine engine, Tolerance tol, Stats s, boolean screen) {
        Tensor a = pa.src();
        Tensor b = pb.src();
        if (flat) {
            long offA = pa.byteOffset(r0, c0) + from * a.dtype().size();
            long offB = pb.byteOffset(r0, c0) + from * b.dtype().size();
            long n = to - from;
            engine.compare(new Run(a.storage(), offA, a.dtype(), b.storage(), offB, b.dtype(), n,
                    r0 * hfCols + c0 + from), tol, s, screen);
            return;
        }
        if (rowRuns) {
            long first = r0 + from;
            long rowsHere = to - from;
            long strideA = pa.srcRowStride() * a.dtype().size();
            long strideB = pb.srcRowStride() * b.dtype().size();
            long offA = pa.byteOffset(first, c0);
            long offB = pb.byteOffset(first, c0);
            engine.compare(new Run(a.storage(), offA, a.dtype(), b.storage(), offB, b.dtype(), cols,
                    first * hfCols + c0, rowsHere, strideA, strideB, hfCols), tol, s, screen);
            return;
        }
        for (long r = r0 + from; r < r0 + to; r++) { // trailing dims not contiguous: element by element
            for (long c = c0; c < c0 + cols; c++) {
                engine.compare(new Run(a.storage(), pa.byteOffset(r, c), a.dtype(), b.storage(), pb.byteOffset(r, c),
                        b.dtype(), 1, r * hfCols + c), tol, s, screen);
            }
        }
    }
}
