package dev.ckptdiff.torchdist;

import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.tensor.Shapes;

/**
 * Every element of a global tensor must lie in exactly one chunk: a gap means the index lost a
 * chunk (the element has no value), an overlap means two writers claimed the same element.
 */
final class Coverage {
    private static final long MAX_CANDIDATES = 1_000_000;

    private Coverage() {
    }

    static void check(Path index, GlobalTensor g) {
        List<ChunkMeta> cs = g.chunks();
        for (int i = 0; i < cs.size(); i++) {
            for (int j = i + 1; j < cs.size(); j++) {
                if (overlap(cs.get(i), cs.get(j))) {
                    throw BadInputException.in(index, g.key() + ": chunks " + cs.get(i).slice() + " (" + cs.get(i).where()
                            .describe() + ") and " + cs.get(j).slice() + " (" + cs.get(j).where().describe()
                            + ") overlap");
                }
            }
        }
        long covered = 0;
        for (ChunkMeta c : cs) {
            covered += c.numel();
        }
        long total = Shapes.numel(g.shape());
        if (covered != total) {
            throw BadInputException.in(index, g.key() + ": its " + cs.size() + " chunks cover " + covered + " of the "
                    + total + " elements of global shape " + g.shapeString() + firstGap(g)
                    + " (a chunk is missing from the index)");
        }
    }

    private static boolean overlap(ChunkMeta a, ChunkMeta b) {
        for (int d = 0; d < a.offsets().length; d++) {
            if (a.offsets()[d] >= b.offsets()[d] + b.sizes()[d] || b.offsets()[d] >= a.offsets()[d] + a.sizes()[d]) {
                return false;
            }
        }
        return a.numel() > 0 && b.numel() > 0;
    }

    /** The first uncovered element, searched on the grid of chunk edges (where a gap must start). */
    private static String firstGap(GlobalTensor g) {
        int rank = g.shape().length;
        List<TreeSet<Long>> axes = new java.util.ArrayList<>();
        long candidates = 1;
        for (int d = 0; d < rank; d++) {
            TreeSet<Long> edges = new TreeSet<>();
            edges.add(0L);
            for (ChunkMeta c : g.chunks()) {
                edges.add(c.offsets()[d]);
                edges.add(c.offsets()[d] + c.sizes()[d]);
            }
            final int dim = d;
            edges.removeIf(e -> e >= g.shape()[dim]);
            axes.add(edges);
            candidates *= Math.max(1, edges.size());
            if (candidates > MAX_CANDIDATES) {
                return "";
            }
        }
        long[] point = new long[rank];
        return search(g, axes, 0, point) ? "; element " + Shapes.toString(point) + " is in no chunk" : "";
    }

    private static boolean search(GlobalTensor g, List<TreeSet<Long>> axes, int d, long[] point) {
        if (d == point.length) {
            for (ChunkMeta c : g.chunks()) {
                boolean in = true;
                for (int k = 0; k < point.length && in; k++) {
                    in = point[k] >= c.offsets()[k] && point[k] < c.offsets()[k] + c.sizes()[k];
                }
                if (in) {
                    return false;
                }
            }
            return true;
        }
        for (long v : axes.get(d)) {
            point[d] = v;
            if (search(g, axes, d + 1, point)) {
                return true;
            }
        }
        return false;
    }
}
