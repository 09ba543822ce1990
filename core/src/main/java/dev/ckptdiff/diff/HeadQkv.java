package dev.ckptdiff.diff;

import java.util.ArrayList;
import java.util.List;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.tensor.Tensor;

/**
 * A vision tower's fused QKV as Megatron keeps it: one group per head, so each head's rows are
 * {@code [q_h; k_h; v_h]}, and TP ranks hold whole heads in order. HF keeps one {@code [Q; K; V]}
 * tensor. Every piece names its part and head, so a difference is blamed on q, k or v of one head.
 */
final class HeadQkv {
    private HeadQkv() {
    }

    static Assembled merge(String name, List<Tensor> shards, List<Source> sources, Views.Dims d, String where) {
        long nh = d.heads();
        long hd = d.headDim();
        int tp = shards.size();
        if (nh <= 0 || hd <= 0) {
            // No config.json (Megatron against Megatron): both sides stay in Megatron's per-head order, which
            // compares element for element all the same, only without naming q, k or v.
            return Merge.concatRows(name, shards, sources.stream().map(s -> Merge.part(s, "per-head q/k/v order")).toList(),
                    false);
        }
        if (nh % tp != 0) {
            throw new BadInputException(where + ": " + nh + " vision heads do not divide over TP=" + tp);
        }
        long perRank = nh / tp;
        Tensor first = shards.getFirst();
        long cols = Piece.colsOf(first.shape());
        List<Piece> pieces = new ArrayList<>();
        for (int r = 0; r < tp; r++) {
            Tensor t = shards.get(r);
            if (Piece.rowsOf(t.shape()) != perRank * 3 * hd) {
                throw new BadInputException(where + " on " + sources.get(r).file() + ": fused QKV has "
                        + Piece.rowsOf(t.shape()) + " rows; " + perRank + " heads x (q + k + v) x head dim " + hd + " = "
                        + perRank * 3 * hd + " expected");
            }
            for (long j = 0; j < perRank; j++) {
                long head = r * perRank + j;
                String[] parts = {"q", "k", "v"};
                for (int p = 0; p < 3; p++) {
                    pieces.add(new Piece(t, Merge.part(sources.get(r), parts[p] + " head " + head),
                            (p * nh + head) * hd, 0, hd, cols, (j * 3 + p) * hd, 0));
                }
            }
        }
        return new Assembled(name, Merge.shapeWithRows(first, 3 * nh * hd), pieces, false);
    }
}
