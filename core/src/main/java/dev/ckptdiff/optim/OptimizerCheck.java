package dev.ckptdiff.optim;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.locate.Copy;
import dev.ckptdiff.locate.Locator;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.megatron.RankShard;

/**
 * Will a resume from this step train the weights it holds? Every rank folder's {@code distrib_optim.pt} is
 * read beside its {@code model_optim_rng.pt}, the layout recomputed and proven, and the masters checked
 * against the weights ({@link MasterCheck}). One folder at a time, so at most two files are mapped at once.
 */
public final class OptimizerCheck {

    /** The whole step: one check per rank folder, in folder order. */
    public record Report(Path dir, List<MasterCheck.RankCheck> ranks) {
        public List<OptimFinding> findings() {
            return ranks.stream().flatMap(r -> r.findings().stream()).toList();
        }

        public boolean mastersMatch() {
            return findings().stream().noneMatch(f -> f.kind() == OptimFinding.Kind.MASTER_MISMATCH
                    || f.kind() == OptimFinding.Kind.UNPROVEN || f.kind() == OptimFinding.Kind.MISSING);
        }

        public String summary() {
            long moments = findings().stream().filter(f -> f.kind() == OptimFinding.Kind.BAD_MOMENT).count();
            String masters = mastersMatch() ? "masters match weights"
                    : findings().stream().anyMatch(f -> f.kind() == OptimFinding.Kind.MASTER_MISMATCH)
                    ? "masters do NOT match weights: the step will resume onto other weights"
                    : "masters could not be checked against the weights";
            long gaps = findings().stream().filter(f -> f.kind() == OptimFinding.Kind.GAP_NOT_ZERO).count();
            return masters + (moments > 0 ? "; " + moments + " parameter(s) with bad optimizer moments" : "")
                    + (gaps > 0 ? "; " + gaps + " gap(s) between parameters not zero" : "");
        }
    }

    private OptimizerCheck() {
    }

    /** A step, actor/ or iteration folder, a rank folder, or a {@code distrib_optim.pt}. */
    public static Report run(Path path) {
        List<MasterCheck.RankCheck> out = new ArrayList<>();
        Path iter = iterationOf(path);
        try (MegatronCheckpoint ckpt = MegatronCheckpoint.open(iter)) {
            for (RankShard shard : ckpt.shards()) {
                out.add(withReplicas(ckpt, shard, checkFolder(ckpt, shard)));
            }
        }
        return new Report(iter, out);
    }

    private static MasterCheck.RankCheck checkFolder(MegatronCheckpoint ckpt, RankShard shard) {
        Path opt = shard.path().resolveSibling(OptimizerFile.NAME);
        if (!Files.isRegularFile(opt)) {
            return new MasterCheck.RankCheck(shard.folder(), new RankLayout(List.of(), false, List.of(), "no file"), 0, 0,
                    List.of(new OptimFinding(OptimFinding.Kind.MISSING, shard.folder(), "", -1, -1,
                            "no " + OptimizerFile.NAME
                                    + " beside model_optim_rng.pt: a resume cannot restore this rank's optimizer")));
        }
        try (OptimizerFile file = OptimizerFile.open(opt)) {
            return MasterCheck.run(shard, file, RankLayout.of(ckpt.args(), shard, file));
        }
    }

    /**
     * A folder whose file lacks a sub-optimizer (it was not DP rank 0 of it, e.g. the dense optimizer on an
     * expert-parallel rank > 0) still holds those weights: check them against the masters that the folder of
     * the same TP/PP rank wrote, when its layout for that optimizer is the same.
     */
    private static MasterCheck.RankCheck withReplicas(MegatronCheckpoint ckpt, RankShard shard, MasterCheck.RankCheck c) {
        if (!c.layout().proven()) {
            return c;
        }
        Path own = shard.path().resolveSibling(OptimizerFile.NAME);
        List<Integer> absent = new ArrayList<>();
        try (OptimizerFile file = OptimizerFile.open(own)) {
            for (int s = 0; s < file.optimizers().size(); s++) {
                if (file.optimizers().get(s) == null) {
                    absent.add(s);
                }
            }
        }
        MasterCheck.RankCheck out = c;
        for (int s : absent) {
            out = fromDonor(ckpt, shard, out, s);
        }
        return out;
    }

    private static MasterCheck.RankCheck fromDonor(MegatronCheckpoint ckpt, RankShard shard, MasterCheck.RankCheck c, int s) {
        for (RankShard donor : ckpt.shards()) {
            Path file = donor.path().resolveSibling(OptimizerFile.NAME);
            if (donor == shard || donor.tpRank() != shard.tpRank() || donor.ppRank() != shard.ppRank()
                    || !Files.isRegularFile(file)) {
                continue;
            }
            try (OptimizerFile opt = OptimizerFile.open(file)) {
                if (opt.optimizers().size() <= s || opt.optimizers().get(s) == null) {
                    continue;
                }
                RankLayout layout = RankLayout.of(ckpt.args(), donor, opt);
                if (layout.proven() && layout.optimizers().get(s).equals(c.layout().optimizers().get(s))) {
                    return MasterCheck.borrowed(c, shard, s, opt.optimizers().get(s), donor.folder());
                }
            }
        }
        return c;
    }

    /**
     * The Megatron checkpoint (a file named by the user opens the one model file beside it; a step folder its
     * role's Megatron copy, the actor's first).
     */
    static Path iterationOf(Path path) {
        if (Files.isRegularFile(path)) {
            Path folder = path.toAbsolutePath().getParent();
            return folder.resolve(MegatronCheckpoint.FILE);
        }
        if (Files.isRegularFile(path.resolve(OptimizerFile.NAME)) || Files.isRegularFile(path.resolve(MegatronCheckpoint.FILE))) {
            return path.resolve(MegatronCheckpoint.FILE);
        }
        for (Locator.Role role : Locator.roles(path)) {
            Copy m = role.find(Copy.Kind.MEGATRON);
            if (m != null) {
                return m.path();
            }
        }
        throw BadInputException.in(path, "holds no Megatron checkpoint (iter_*/mp_rank_*/model_optim_rng.pt with"
                + " distrib_optim.pt beside it)");
    }
}
