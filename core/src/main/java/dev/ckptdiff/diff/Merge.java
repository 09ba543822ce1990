package dev.ckptdiff.diff;

import java.util.ArrayList;
import java.util.List;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.mapping.Rule;
import dev.ckptdiff.mapping.Split;
import dev.ckptdiff.tensor.Shapes;
import dev.ckptdiff.tensor.Tensor;

/**
 * The tensor-parallel merge rules (FORMATS.md section 3), as pieces rather than copies: each rule
 * says which rectangle of which shard fills which rectangle of the HF tensor.
 */
public final class Merge {
    private Merge() {
    }

    public static List<Assembled> merge(Rule rule, List<String> hfNames, List<Tensor> shards, List<Source> sources,
                                 Views.Dims dims, String where) {
        Tensor first = shards.getFirst();
        for (Tensor t : shards) {
            // Row-parallel shards differ in their columns; every other kind only in its rows.
            boolean lineUp = t.rank() == first.rank() && (rule.split() == Split.ROW
                    || Piece.colsOf(t.shape()) == Piece.colsOf(first.shape()));
            if (!lineUp) {
                throw new BadInputException(where + ": TP shards have shapes " + shards.stream()
                        .map(Tensor::shapeString).toList() + ", which do not line up");
            }
        }
        int tp = shards.size();
        return switch (rule.split()) {
            case REPLICATED -> List.of(Assembled.single(hfNames.getFirst(), Piece.whole(first, sources.getFirst())));
            case COLUMN, VOCAB -> List.of(concatRows(hfNames.getFirst(), shards, sources, rule.split() == Split.VOCAB));
            case ROW -> List.of(concatCols(hfNames.getFirst(), shards, sources, where));
            case QKV -> qkv(hfNames, shards, sources, dims, where, tp);
            case GATE_UP -> gateUp(hfNames, shards, sources, where);
            case HEAD_QKV -> List.of(HeadQkv.merge(hfNames.getFirst(), shards, sources, dims, where));
        };
    }

    static Assembled concatRows(String name, List<Tensor> shards, List<Source> sources, boolean padded) {
        List<Piece> pieces = new ArrayList<>();
        long row = 0;
        for (int r = 0; r < shards.size(); r++) {
            Tensor t = shards.get(r);
            pieces.add(new Piece(t, sources.get(r), row, 0, Piece.rowsOf(t.shape()), Piece.colsOf(t.shape()), 0, 0));
            row += Piece.rowsOf(t.shape());
        }
        long[] shape = shards.getFirst().shape().clone();
        if (shape.length > 0) {
            shape[0] = row;
        }
        return new Assembled(name, shape, pieces, padded);
    }

    private static Assembled concatCols(String name, List<Tensor> shards, List<Source> sources, String where) {
        Tensor first = shards.getFirst();
        if (first.rank() != 2) {
            throw new BadInputException(where + ": row-parallel weight of shape " + first.shapeString() + ", expected 2-D");
        }
        List<Piece> pieces = new ArrayList<>();
        long col = 0;
        for (int r = 0; r < shards.size(); r++) {
            Tensor t = shards.get(r);
            if (t.shape()[0] != first.shape()[0]) {
                throw new BadInputException(where + ": TP shards have " + first.shape()[0] + " and " + t.shape()[0] + " rows");
            }
            pieces.add(new Piece(t, sources.get(r), 0, col, t.shape()[0], t.shape()[1], 0, 0));
            col += t.shape()[1];
        }
        return new Assembled(name, new long[]{first.shape()[0], col}, pieces, false);
    }

    private static List<Assembled> qkv(List<String> names, List<Tensor> shards, List<Source> sources, Views.Dims d,
                                       String where, int tp) {
        long hpg = d.headsPerGroup(where);
        long nh = d.heads();
        long ng = d.groups();
        long hd = d.headDim();
        if (ng % tp != 0) {
            throw new BadInputException(where + ": " + ng + " query groups do not divide over TP=" + tp
                    + " (splitting a group across ranks is not supported)");
        }
        long groupsPerRank = ng / tp;
        // Exact: a wrapped product could match the stored rows while the loop below runs per claimed group.
        long rowsPerRank;
        try {
            rowsPerRank = Math.multiplyExact(Math.multiplyExact(groupsPerRank, hpg + 2), hd);
        } catch (ArithmeticException e) {
            throw new BadInputException(where + ": heads " + nh + ", query groups " + ng + ", head dim " + hd
                    + " (from args / config.json) imply more fused QKV rows than a tensor can hold");
        }
        Tensor first = shards.getFirst();
        long cols = Piece.colsOf(first.shape());
        List<Piece> q = new ArrayList<>();
        List<Piece> k = new ArrayList<>();
        List<Piece> v = new ArrayList<>();
        for (int r = 0; r < tp; r++) {
            Tensor t = shards.get(r);
            if (Piece.rowsOf(t.shape()) != rowsPerRank) {
                throw new BadInputException(where + " on " + sources.get(r).file() + ": fused QKV has "
                        + Piece.rowsOf(t.shape()) + " rows; " + groupsPerRank + " groups x (" + hpg + " query + 1 key + 1 value)"
                        + " heads x head dim " + hd + " = " + rowsPerRank + " expected");
            }
            Source s = sources.get(r);
            for (long j = 0; j < groupsPerRank; j++) {
                long g = r * groupsPerRank + j;
                long base = j * (hpg + 2) * hd;
                q.add(new Piece(t, part(s, "q"), g * hpg * hd, 0, hpg * hd, cols, base, 0));
                k.add(new Piece(t, part(s, "k"), g * hd, 0, hd, cols, base + hpg * hd, 0));
                v.add(new Piece(t, part(s, "v"), g * hd, 0, hd, cols, base + (hpg + 1) * hd, 0));
            }
        }
        return List.of(new Assembled(names.get(0), shapeWithRows(first, nh * hd), q, false),
                new Assembled(names.get(1), shapeWithRows(first, ng * hd), k, false),
                new Assembled(names.get(2), shapeWithRows(first, ng * hd), v, false));
    }

    private static List<Assembled> gateUp(List<String> names, List<Tensor> shards, List<Source> sources, String where) {
        List<Piece> gate = new ArrayList<>();
        List<Piece> up = new ArrayList<>();
        long row = 0;
        Tensor first = shards.getFirst();
        long cols = Piece.colsOf(first.shape());
        for (int r = 0; r < shards.size(); r++) {
            Tensor t = shards.get(r);
            long rows = Piece.rowsOf(t.shape());
            if (rows % 2 != 0) {
                throw new BadInputException(where + " on " + sources.get(r).file() + ": gated fc1 has " + rows
                        + " rows, expected an even count ([gate; up])");
            }
            long half = rows / 2;
            gate.add(new Piece(t, part(sources.get(r), "gate"), row, 0, half, cols, 0, 0));
            up.add(new Piece(t, part(sources.get(r), "up"), row, 0, half, cols, half, 0));
            row += half;
        }
        return List.of(new Assembled(names.get(0), shapeWithRows(first, row), gate, false),
                new Assembled(names.get(1), shapeWithRows(first, row), up, false));
    }

    static Source part(Source s, String part) {
        return new Source(s.copy(), s.file(), s.key(), part);
    }

    static long[] shapeWithRows(Tensor t, long rows) {
        long[] s = t.shape().clone();
        if (s.length == 0) {
            throw new BadInputException(t.origin() + ": " + t.name() + " is a scalar " + Shapes.toString(s));
        }
        s[0] = rows;
        return s;
    }
}
