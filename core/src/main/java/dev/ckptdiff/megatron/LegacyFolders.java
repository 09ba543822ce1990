package dev.ckptdiff.megatron;

import java.util.stream.IntStream;
import java.util.stream.Stream;

import dev.ckptdiff.io.BadInputException;

/**
 * The {@code mp_rank_*} folders Megatron's legacy save writes for one layout. Only ranks whose data-parallel
 * or expert-data-parallel rank is 0 write (megatron/training/checkpointing.py save_checkpoint), each into the
 * folder of its dense TP rank and its EP rank. With parallel_state's default order (tp-cp-ep-dp-pp) global
 * rank r of a pipeline stage has dense TP rank {@code r % TP}, data-parallel rank {@code r / (TP * CP)},
 * ETP rank {@code r % ETP}, EP rank {@code (r / ETP) % EP} and expert-data-parallel rank
 * {@code r / (ETP * EP)}: the writers are {@code r < max(TP * CP, ETP * EP)}. When ETP < TP that is not
 * the full TP x EP grid, and a folder's experts are those of ETP rank {@code tp % ETP}.
 */
public record LegacyFolders(int tp, int pp, int ep, int etp, int cp) {
    /** One folder: its dense TP rank, pipeline stage and EP rank. */
    public record Folder(int tp, int pp, int ep) {
    }

    /**
     * @throws BadInputException when ETP exceeds TP or does not divide it: two expert shards would then
     *                           share one folder name, which legacy folders cannot hold
     */
    public LegacyFolders {
        if (tp < 1 || pp < 1 || ep < 1 || etp < 1 || cp < 1) {
            throw new IllegalArgumentException("sizes must be positive");
        }
        if (etp > tp || tp % etp != 0) {
            throw new BadInputException("expert tensor parallel size " + etp + " with TP " + tp + ": legacy mp_rank_*"
                    + " folders are named by the dense TP rank only, so ETP must divide TP (Megatron cannot save "
                    + (etp > tp ? "ETP > TP" : "this layout") + " as legacy folders)");
        }
    }

    /** Megatron's layout for a model without routed experts: the expert grid then adds no folders. */
    public static LegacyFolders dense(int tp, int pp, int ep, int cp) {
        return new LegacyFolders(tp, pp, ep, tp, cp);
    }

    /** The ETP rank of the experts in a folder of dense TP rank {@code tpRank}. */
    public int expertTpRank(int tpRank) {
        return tpRank % etp;
    }

    /** The folder name {@code get_checkpoint_name} gives. */
    public String name(Folder f) {
        return String.format("mp_rank_%02d", f.tp()) + (pp > 1 ? String.format("_%03d", f.pp()) : "")
                + (ep > 1 ? String.format("_%03d", f.ep()) : "");
    }

    /** Writers r = tpRank + TP * k, k < this, hold dense TP rank tpRank (ranks below max(TP * CP, ETP * EP)). */
    private long writersOf(int tpRank) {
        long writers = Math.max((long) tp * cp, (long) etp * ep);
        return (writers - tpRank + tp - 1) / tp;
    }

    /** How many EP ranks share the folders of one TP rank before their EP ranks repeat. */
    private int epPeriod() {
        return ep / gcd(tp / etp, ep);
    }

    /** The EP ranks written with dense TP rank {@code tpRank}, ascending; at most EP of them. */
    public IntStream epRanks(int tpRank) {
        int step = tp / etp;
        // Writer r = tpRank + TP * k has EP rank (tpRank / ETP + k * TP / ETP) % EP, as ETP divides TP.
        long n = Math.min(writersOf(tpRank), epPeriod());
        return IntStream.range(0, (int) n).map(k -> (int) ((tpRank / etp + (long) k * step) % ep)).sorted();
    }

    /** Whether Megatron writes the folder of this TP and EP rank. */
    public boolean written(int tpRank, int epRank) {
        return epRanks(tpRank).anyMatch(e -> e == epRank);
    }

    /** The folders Megatron writes, in name order; lazy, so a caller may stop early whatever the sizes. */
    public Stream<Folder> folders() {
        return IntStream.range(0, tp).boxed().flatMap(t -> IntStream.range(0, pp).boxed()
                .flatMap(p -> epRanks(t).mapToObj(e -> new Folder(t, p, e))));
    }

    /** How many folders Megatron writes. */
    public long count() {
        long perStage = 0;
        for (int t = 0; t < tp; t++) {
            perStage += Math.min(writersOf(t), epPeriod());
        }
        return perStage * pp;
    }

    /** The full TP x PP x EP grid: the folders other tools write, a superset of {@link #folders()}. */
    public long gridSize() {
        return (long) tp * pp * ep;
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }
}
