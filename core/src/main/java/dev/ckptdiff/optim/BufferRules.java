package dev.ckptdiff.optim;

import java.util.Optional;

import dev.ckptdiff.megatron.MegatronArgs;

/**
 * The DDP settings that decide the buffer layout, read from a checkpoint's {@code args} (notes B.2/B.3), or
 * why they cannot be known. Nothing is guessed: a missing setting that changes the layout is a reason.
 */
public sealed interface BufferRules {

    record Known(int tp, int etp, int ep, int denseDp, int expertDp, boolean overlapGradReduce, Long bucketSize,
                 boolean highBusbwPad, String gradDtype, boolean chunkOverlap, boolean tied, int pp)
            implements BufferRules {

        /** Bucket size for one model chunk on one pipeline stage; null means one bucket. */
        public Long bucketSizeFor(int ppRank, int chunk) {
            return !overlapGradReduce || ppRank > 0 || chunk > 0 || chunkOverlap ? null : bucketSize;
        }

        /** Expert weights get their own buffers when they are reduced over another group. */
        public boolean expertsSeparate() {
            return ep > 1 || etp != tp;
        }

        public LayoutPlanner.Settings settings(int ppRank, int chunk, boolean alignStarts) {
            return new LayoutPlanner.Settings(bucketSizeFor(ppRank, chunk), denseDp, expertDp, gradDtype, alignStarts,
                    highBusbwPad);
        }
    }

    record Unknown(String reason) implements BufferRules {
    }

    static BufferRules from(MegatronArgs a) {
        if (!a.getBool("use_distributed_optimizer").orElse(true)) {
            return new Unknown("args.use_distributed_optimizer is False: this run had no distributed optimizer");
        }
        if (a.getBool("fp8_param_gather").orElse(false)) {
            return new Unknown("args.fp8_param_gather is True: FP8 parameters live in uint8 buffers and their"
                    + " checkpoint weights are not the RNE rounding of the masters");
        }
        if (a.getBool("use_megatron_fsdp").orElse(false) || a.getBool("use_torch_fsdp2").orElse(false)) {
            return new Unknown("the run used FSDP, whose optimizer state is not laid out in DDP grad buffers");
        }
        Optional<Long> dp = a.getLong("data_parallel_size").stream().boxed().findFirst();
        if (dp.isEmpty()) {
            return new Unknown("args has no data_parallel_size, which sets the bucket padding");
        }
        int tp = (int) a.getLong("tensor_model_parallel_size", 1);
        int pp = (int) a.getLong("pipeline_model_parallel_size", 1);
        int cp = (int) a.getLong("context_parallel_size", 1);
        int ep = (int) a.getLong("expert_model_parallel_size", 1);
        long etpRaw = a.getLong("expert_tensor_parallel_size", -1);
        int etp = etpRaw > 0 ? (int) etpRaw : tp;
        int inst = (int) Math.max(1, a.getLong("num_distributed_optimizer_instances", 1));
        long dpcp = dp.get() * cp;
        int denseDp = (int) (dpcp / inst);
        long expertWorld = dpcp * tp;
        if (expertWorld % ((long) etp * ep * inst) != 0) {
            return new Unknown("DP x CP x TP = " + expertWorld + " is not divisible by ETP x EP = " + etp * ep);
        }
        int expertDp = (int) (expertWorld / ((long) etp * ep) / inst);
        Optional<Boolean> overlap = a.getBool("overlap_grad_reduce");
        if (overlap.isEmpty()) {
            return new Unknown("args has no overlap_grad_reduce, which decides whether there are several buckets");
        }
        Long bucketSize = null;
        if (overlap.get()) {
            long explicit = a.getLong("ddp_bucket_size", -1);
            if (explicit > 0) {
                bucketSize = explicit;
            } else if (a.getLong("ddp_num_buckets", -1) > 0) {
                return new Unknown("args.ddp_num_buckets is set: the bucket size depends on the whole model chunk's"
                        + " parameter count across ranks, which this check does not recompute");
            } else {
                bucketSize = Math.max(40_000_000L, 1_000_000L * dpcp);
            }
        }
        boolean fp32Grads = a.getBool("accumulate_allreduce_grads_in_fp32").orElse(a.getBool("bf16").orElse(false));
        return new Known(tp, etp, ep, denseDp, expertDp, overlap.get(), bucketSize,
                a.getBool("ddp_pad_buckets_for_high_nccl_busbw").orElse(false), fp32Grads ? "float32" : null,
                a.getBool("overlap_param_gather_with_optimizer_step").orElse(false),
                !a.getBool("untie_embeddings_and_output_weights").orElse(false), pp);
    }
}
