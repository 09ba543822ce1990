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
import dev.ckptdiff.tensor.Tensor;

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
            long tied = findings().stream().filter(f -> f.kind() == OptimFinding.Kind.TIED_COPIES_DIFFER).count();
            long gaps = findings().stream().filter(f -> f.kind() == OptimFinding.Kind.GAP_NOT_ZERO).count();
            return masters + (moments > 0 ? "; " + moments + " parameter(s) with bad optimizer moments" : "")
                    + (gaps > 0 ? "; " + gaps + " gap(s) between parameters not zero" : "")
                    + (tied > 0 ? "; the pipeline stages' copies of the tied embeddings differ" : "");
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
            out = tiedCopies(ckpt, out);
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

    static final String EMBEDDING = "embedding.word_embeddings.weight";
    static final String OUTPUT = "output_layer.weight";

    /**
     * With PP > 1 and tied embeddings the first stage's word embeddings and the last stage's output layer are
     * two copies that Megatron keeps equal (their grads are all-reduced over the embedding group). Each copy
     * can match its own masters while the two differ, e.g. after patching one stage: compare them bitwise.
     */
    private static List<MasterCheck.RankCheck> tiedCopies(MegatronCheckpoint ckpt, List<MasterCheck.RankCheck> checks) {
        int pp = ckpt.layout().pp();
        if (pp < 2 || ckpt.args().getBool("untie_embeddings_and_output_weights").orElse(true)) {
            return checks;
        }
        List<MasterCheck.RankCheck> out = new ArrayList<>(checks);
        for (RankShard first : ckpt.shards()) {
            if (first.ppRank() != 0 || first.epRank() != 0 || first.chunks().isEmpty()) {
                continue;
            }
            for (RankShard last : ckpt.shards()) {
                if (last.ppRank() != pp - 1 || last.tpRank() != first.tpRank() || last.epRank() != 0) {
                    continue;
                }
                Tensor a = first.chunks().getFirst().get(EMBEDDING);
                Tensor b = last.chunks().getLast().get(OUTPUT);
                if (a == null || b == null) {
                    continue;
                }
                long at = firstDifference(a, b);
                if (at >= 0) {
                    int i = out.indexOf(checks.stream().filter(c -> c.folder().equals(last.folder())).findFirst().orElseThrow());
                    MasterCheck.RankCheck c = out.get(i);
                    List<OptimFinding> fs = new ArrayList<>(c.findings());
                    fs.add(new OptimFinding(OptimFinding.Kind.TIED_COPIES_DIFFER, last.folder(), OUTPUT, -1, at,
                            at == Long.MAX_VALUE ? "has shape " + b.shapeString() + " but " + first.folder() + "'s " + EMBEDDING
                                    + " has " + a.shapeString()
                                    : "holds " + b.get(at) + " but " + first.folder() + "'s " + EMBEDDING + " holds " + a.get(at)
                                    + ": the tied copies differ, and a resume trains them apart"));
                    out.set(i, new MasterCheck.RankCheck(c.folder(), c.layout(), c.paramsChecked(), c.elementsChecked(),
                            List.copyOf(fs)));
                }
            }
        }
        return out;
    }

    /** The first element where two tensors differ bitwise, -1 if none, Long.MAX_VALUE if the shapes differ. */
    private static long firstDifference(Tensor a, Tensor b) {
        if (!java.util.Arrays.equals(a.shape(), b.shape()) || a.dtype() != b.dtype()) {
            return Long.MAX_VALUE;
        }
        int size = a.dtype().size();
        if (a.isContiguous() && b.isContiguous()) {
            long m = a.bytes().mismatch(b.bytes());
            return m < 0 ? -1 : m / size;
        }
        for (long i = 0; i < a.numel(); i++) {
            long oa = a.byteOffsetOf(i);
            long ob = b.byteOffsetOf(i);
            if (java.lang.foreign.MemorySegment.mismatch(a.storage(), oa, oa + size, b.storage(), ob, ob + size) >= 0) {
                return i;
            }
        }
        return -1;
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
