package dev.ckptdiff.diff;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.function.ToIntFunction;

import dev.ckptdiff.io.BadInputException;

/**
 * The copies of one Megatron key across {@code mp_rank_*} folders. A key is split over {@code width} ranks (TP,
 * or ETP for a routed expert); each rank's shard may be written by several folders (the EP folders of one TP
 * rank; with ETP < TP also several TP folders of one EP rank), and Megatron does not write every TP x EP folder.
 * Copy 0 takes each rank's first folder; copy c its c-th, or the first where that rank has fewer: so further
 * copies are replicas that must equal copy 0, and a full grid keeps one copy per EP folder.
 */
final class ShardCopies {
    private ShardCopies() {
    }

    /**
     * @param rankOf   the rank (0..width-1) an entry's shard holds
     * @param holders  the folders that must hold the key for a rank
     * @param folderOf an entry's folder
     * @param where    the checkpoint and key, for errors
     * @param expert   whether the ranks are expert TP ranks (for errors)
     */
    static <E> List<List<E>> of(List<E> entries, ToIntFunction<E> rankOf, int width, IntFunction<List<String>> holders,
                                Function<E, String> folderOf, String where, boolean expert) {
        List<List<E>> byRank = new ArrayList<>();
        for (int r = 0; r < width; r++) {
            byRank.add(new ArrayList<>());
        }
        for (E e : entries) {
            byRank.get(rankOf.applyAsInt(e)).add(e);
        }
        int copies = 0;
        for (int r = 0; r < width; r++) {
            List<E> held = byRank.get(r);
            // Loops, not streams: this runs for every key, tens of thousands in a large MoE.
            List<String> lacking = List.of();
            for (String must : holders.apply(r)) {
                boolean found = false;
                for (E e : held) {
                    found |= folderOf.apply(e).equals(must);
                }
                if (!found) {
                    lacking = lacking.isEmpty() ? new ArrayList<>() : lacking;
                    lacking.add(must);
                }
            }
            if (held.isEmpty() || !lacking.isEmpty()) {
                List<String> all = entries.stream().map(folderOf).toList();
                throw new BadInputException(where + " is missing from " + (lacking.isEmpty() ? "the shard of"
                        : String.join(", ", lacking) + ", a shard of") + " " + (expert ? "expert " : "") + "TP rank " + r
                        + " (found on " + String.join(", ", all) + ")");
            }
            copies = Math.max(copies, held.size());
        }
        List<List<E>> out = new ArrayList<>();
        for (int c = 0; c < copies; c++) {
            List<E> copy = new ArrayList<>();
            for (List<E> held : byRank) {
                copy.add(held.get(c < held.size() ? c : 0));
            }
            out.add(copy);
        }
        return out;
    }
}
