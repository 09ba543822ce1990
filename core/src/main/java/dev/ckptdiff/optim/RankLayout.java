package dev.ckptdiff.optim;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.megatron.RankShard;
import dev.ckptdiff.tensor.Tensor;

/**
 * One rank folder's buffer layout, recomputed from {@code args} and the parameter order of its
 * {@code model_optim_rng.pt}, and matched to the buffers its {@code distrib_optim.pt} holds. It is proven
 * when every buffer's unpadded size equals the file's {@code numel_unpadded} (per bucket in the older form);
 * otherwise {@link #unproven()} says why and no offset is trusted.
 *
 * @param optimizers per sub-optimizer of the file, the computed buffers it covers (same order as the file)
 * @param alignedStarts whether parameter starts are 64-aligned (Megatron-Core >= 0.8) in the proven layout
 */
public record RankLayout(List<List<GradBuffer>> optimizers, boolean alignedStarts, List<String> proof,
                         String unproven) {

    public boolean proven() {
        return unproven == null;
    }

    /** Non-parameter entries a model state dict may hold beside weights (router buffers). */
    private static boolean isBuffer(String name) {
        return name.endsWith(".expert_bias") || name.endsWith(".local_tokens_per_expert");
    }

    public static RankLayout of(MegatronArgs args, RankShard shard, OptimizerFile file) {
        BufferRules rules = BufferRules.from(args);
        if (!(rules instanceof BufferRules.Known k)) {
            return new RankLayout(List.of(), false, List.of(), ((BufferRules.Unknown) rules).reason());
        }
        RankLayout aligned = attempt(k, shard, file, true);
        if (aligned.proven()) {
            return aligned;
        }
        RankLayout unaligned = attempt(k, shard, file, false); // Megatron-Core 0.7 had no start alignment
        return unaligned.proven() ? unaligned : aligned;
    }

    private static RankLayout attempt(BufferRules.Known k, RankShard shard, OptimizerFile file, boolean align) {
        List<GradBuffer> dense = new ArrayList<>();
        List<GradBuffer> expert = new ArrayList<>();
        List<List<GradBuffer>> perChunk = new ArrayList<>();
        for (int c = 0; c < shard.chunks().size(); c++) {
            List<GradBuffer> chunk = LayoutPlanner.plan(params(k, shard, shard.chunks().get(c)), c,
                    k.settings(shard.ppRank(), c, align));
            perChunk.add(chunk);
            for (GradBuffer b : chunk) {
                (b.kind() == GradBuffer.Kind.EXPERT ? expert : dense).add(b);
            }
        }
        // Megatron's ChainedOptimizer: the dense optimizer, then the expert one; one optimizer per chunk
        // with overlap_param_gather_with_optimizer_step. One sub-optimizer is written as a plain dict.
        List<List<GradBuffer>> groups = new ArrayList<>();
        int subs = file.optimizers().size();
        if (subs == 1) {
            List<GradBuffer> all = new ArrayList<>(dense);
            all.addAll(expert);
            groups.add(all);
        } else if (!expert.isEmpty() && subs == 2) {
            groups.add(dense);
            groups.add(expert);
        } else if (expert.isEmpty() && subs == perChunk.size()) {
            groups.addAll(perChunk);
        } else {
            return new RankLayout(List.of(), align, List.of(), "the file holds " + subs + " sub-optimizers but the model"
                    + " has " + dense.size() + " dense and " + expert.size() + " expert buffers in " + perChunk.size()
                    + " chunk(s); cannot tell which state belongs to which buffer");
        }
        List<String> proof = new ArrayList<>();
        for (int s = 0; s < subs; s++) {
            List<BufferState> states = file.optimizers().get(s);
            List<GradBuffer> want = groups.get(s);
            String sub = subs > 1 ? "optimizer " + s + ": " : "";
            if (states == null) {
                proof.add(sub + "not written by this rank (it is not DP rank 0 of that optimizer)");
                continue;
            }
            if (states.size() != want.size()) {
                return new RankLayout(groups, align, proof, sub + "the file holds " + states.size() + " buffer(s), the"
                        + " recomputed layout " + want.size());
            }
            for (int i = 0; i < states.size(); i++) {
                String why = mismatch(states.get(i), want.get(i));
                if (why != null) {
                    return new RankLayout(groups, align, proof, sub + "buffer " + i + " " + want.get(i).describe() + ": " + why);
                }
                proof.add(sub + "buffer " + i + " " + want.get(i).describe() + ": " + want.get(i).params().size()
                        + " params, " + want.get(i).buckets().size() + " bucket(s), " + want.get(i).numelUnpadded()
                        + " elements unpadded = file's numel_unpadded");
            }
        }
        return new RankLayout(groups, align, proof, null);
    }

    private static String mismatch(BufferState st, GradBuffer b) {
        String want = b.gradDtype() == null ? b.paramDtype() : b.gradDtype();
        if (!st.paramDtype().equals(b.paramDtype()) || !st.gradDtype().equals(want)) {
            return "file dtypes " + st.dtypes() + " differ from (" + b.paramDtype() + ", " + want + ")";
        }
        if (st.coalesced()) {
            return st.numelUnpadded() == b.numelUnpadded() ? null : "recomputed " + b.numelUnpadded()
                    + " unpadded elements but the file's numel_unpadded is " + st.numelUnpadded()
                    + " (parameter order, alignment or bucket size differ from the run's)";
        }
        List<Long> sizes = b.buckets().stream().map(GradBuffer.Bucket::numelUnpadded).toList();
        return sizes.equals(st.perBucketUnpadded()) ? null : "recomputed bucket sizes " + sizes
                + " but the file's per_bucket_numel_unpadded is " + st.perBucketUnpadded();
    }

    private static List<LayoutPlanner.Param> params(BufferRules.Known k, RankShard shard, Map<String, Tensor> chunk) {
        List<LayoutPlanner.Param> out = new ArrayList<>();
        boolean lastStage = shard.ppRank() == k.pp() - 1;
        for (Tensor t : chunk.values()) {
            String n = t.name();
            if (isBuffer(n)) {
                continue;
            }
            boolean expert = k.expertsSeparate() && n.contains(".experts.") && !n.contains("shared_experts");
            // Tied embeddings across stages: both copies are marked shared_embedding and bucketed alone.
            boolean shared = k.tied() && k.pp() > 1 && ((shard.ppRank() == 0 && n.equals("embedding.word_embeddings.weight"))
                    || (lastStage && n.equals("output_layer.weight")));
            out.add(new LayoutPlanner.Param(n, t.numel(), t.dtype().torchName(), expert, shared));
        }
        return out;
    }
}
