package dev.ckptdiff.check;

import java.util.Locale;

/**
 * Whether a model fits a parallel layout before a job is launched: heads and KV groups against TP,
 * layers against PP×VPP, experts against EP, the first-stage rule for Qwen3-VL's deepstack
 * layers, plus the padded vocabulary, per-rank shard shapes and weight memory Megatron will use.
 */
public final class LayoutCheck {
    /** The requested layout; 0 or 1 means "not split". */
    public record Layout(int tp, int pp, int vpp, int ep) {
    }

    /** How findings name each setting: CLI options, or the YAML keys of an RLinf config. */
    public record Names(String tp, String pp, String vpp, String ep) {
        public static final Names CLI = new Names("--tp", "--pp", "--vpp", "--ep");
        public static final Names RLINF = new Names("actor.model.tensor_model_parallel_size",
                "actor.model.pipeline_model_parallel_size", "actor.model.virtual_pipeline_model_parallel_size",
                "actor.model.expert_model_parallel_size");
    }

    private LayoutCheck() {
    }

    public static Section run(ModelSpec spec, Layout l, Names n) {
        Section s = new Section("Parallel layout TP=" + l.tp() + " PP=" + l.pp() + (l.vpp() > 1 ? " VPP=" + l.vpp() : "")
                + (l.ep() > 1 ? " EP=" + l.ep() : ""), spec.source());
        ModelSpec.Text t = spec.text();
        int tp = Math.max(1, l.tp());
        int pp = Math.max(1, l.pp());
        int vpp = Math.max(1, l.vpp());
        int ep = Math.max(1, l.ep());
        long nh = t.heads().value();
        long ng = t.kvHeads().value();
        long layers = t.layers();
        if (nh % tp != 0) {
            s.findings().add(Finding.error(n.tp(), "TP " + tp + ": num_attention_heads " + nh + " is not divisible by "
                    + tp + "; Megatron splits attention heads evenly over TP ranks. Use a TP that divides " + nh));
        }
        if (ng % tp != 0) {
            if (tp % ng == 0) {
                s.findings().add(Finding.warning(n.tp(), "TP " + tp + " > num_key_value_heads " + ng + ": each KV head is"
                        + " replicated on " + tp / ng + " ranks, which only newer Megatron-Core supports; TP <= " + ng
                        + " is safe"));
            } else {
                s.findings().add(Finding.error(n.tp(), "TP " + tp + ": num_key_value_heads " + ng + " is not divisible by "
                        + tp + " (nor " + tp + " by " + ng + "); Megatron splits query groups over TP ranks"));
            }
        }
        if (t.intermediate().value() % tp != 0 && (spec.moe() == null || spec.moe().mlpOnlyLayers().size() > 0)) {
            s.findings().add(Finding.error(n.tp(), "TP " + tp + ": intermediate_size " + t.intermediate().value()
                    + " is not divisible by " + tp));
        }
        if (spec.vision() != null && spec.vision().heads().value() % tp != 0) {
            s.findings().add(Finding.warning(n.tp(), "TP " + tp + ": the vision tower's num_heads "
                    + spec.vision().heads().value() + " is not divisible by " + tp + "; Megatron-Bridge splits it with TP too"));
        }
        if (layers % pp != 0) {
            s.findings().add(Finding.error(n.pp(), "PP " + pp + ": num_hidden_layers " + layers + " is not divisible by " + pp
                    + "; stages hold equal layer counts unless decoder_first_pipeline_num_layers /"
                    + " decoder_last_pipeline_num_layers are set"));
        } else if (layers % ((long) pp * vpp) != 0) {
            s.findings().add(Finding.error(n.vpp(), "VPP " + vpp + ": num_hidden_layers " + layers + " is not divisible by"
                    + " PP × VPP = " + pp * vpp));
        }
        if (spec.moe() != null) {
            long e = spec.moe().experts().value();
            if (e % ep != 0) {
                s.findings().add(Finding.error(n.ep(), "EP " + ep + ": " + spec.moe().expertsKey() + " " + e
                        + " is not divisible by " + ep));
            }
            if (spec.moe().intermediate().value() % tp != 0) {
                s.findings().add(Finding.warning(n.tp(), "TP " + tp + ": moe_intermediate_size "
                        + spec.moe().intermediate().value() + " is not divisible by " + tp
                        + " (matters when expert tensor parallelism follows TP)"));
            }
        } else if (ep > 1) {
            s.findings().add(Finding.error(n.ep(), "EP " + ep + ": " + spec.family().id + " has no experts to distribute"));
        }
        long firstChunk = layers / ((long) pp * vpp);
        if (spec.vision() != null && !spec.vision().deepstack().isEmpty()) {
            // Feature i (from vision block deepstack_visual_indexes[i]) is added after language layer i
            // (transformers' Qwen3VLTextModel, Megatron-Bridge's block): the count matters, not the block numbers.
            long deepest = spec.vision().deepstack().size() - 1;
            if (deepest >= firstChunk && layers % ((long) pp * vpp) == 0) {
                s.findings().add(Finding.error(n.pp(), "deepstack_visual_indexes " + spec.vision().deepstack()
                        + " feed " + (deepest + 1) + " vision features into language layers 0.." + deepest + ", but the"
                        + " first pipeline stage" + (vpp > 1 ? "'s first chunk" : "") + " holds layers 0.." + (firstChunk - 1)
                        + " (" + layers + " layers / " + (vpp > 1 ? "PP × VPP " + pp * vpp : "PP " + pp) + "): they must"
                        + " all be on the stage that runs the vision tower. Lower " + n.pp() + (vpp > 1 ? " or " + n.vpp() : "")));
            }
        }
        facts(s, spec, tp, pp, vpp, ep);
        return s;
    }

    private static void facts(Section s, ModelSpec spec, int tp, int pp, int vpp, int ep) {
        ModelSpec.Text t = spec.text();
        long h = t.hidden().value();
        long v = t.vocab().value();
        long mult = 128L * tp;
        long padded = (v + mult - 1) / mult * mult;
        s.facts().put("padded vocabulary", padded + (padded == v ? " (no padding)" : " = vocab_size " + v + " + " + (padded - v)
                + " rows (Megatron-LM: multiple of 128 × TP; Megatron-Bridge may keep " + v + ")"));
        long qkv = (t.heads().value() + 2 * t.kvHeads().value()) * t.headDim().value();
        s.facts().put("per-rank shards", String.format(Locale.ROOT,
                "embedding [%d, %d], linear_qkv [%d, %d], linear_proj [%d, %d], linear_fc1 [%d, %d], linear_fc2 [%d, %d]",
                padded / tp, h, qkv / tp, h, h, t.heads().value() * t.headDim().value() / tp,
                2 * t.intermediate().value() / tp, h, h, t.intermediate().value() / tp));
        long perChunk = t.layers() / ((long) pp * vpp);
        StringBuilder stages = new StringBuilder();
        for (int p = 0; p < pp && t.layers() % ((long) pp * vpp) == 0; p++) {
            stages.append(p == 0 ? "" : "; ").append("stage ").append(p).append(':');
            for (int c = 0; c < vpp; c++) {
                long start = (long) c * t.layers() / vpp + (long) p * perChunk;
                stages.append(' ').append(start).append("..").append(start + perChunk - 1);
            }
        }
        if (!stages.isEmpty()) {
            s.facts().put("layers per stage", stages.toString());
        }
        // Weights per rank (bf16), busiest stage: layers / PP, plus embedding on the first and the
        // output layer on the last (also when tied, if PP > 1), plus the vision tower on the first.
        double layer = (qkv * h + (t.qkvBias() ? qkv : 0) + h * t.heads().value() * t.headDim().value()) / (double) tp
                + 2.0 * h + (t.qkNorm() ? 2.0 * t.headDim().value() : 0);
        double dense = 3.0 * h * t.intermediate().value() / tp;
        double moe = spec.moe() == null ? 0 : spec.moe().experts().value() / (double) ep * 3.0 * h
                * spec.moe().intermediate().value() / tp + spec.moe().experts().value() * h;
        double layersParams = 0;
        for (long i = 0; i < t.layers(); i++) {
            layersParams += layer + (spec.moe() != null && spec.moe().isMoeLayer(i) ? moe : dense);
        }
        double perStage = layersParams / pp;
        double embed = (double) padded * h / tp;
        double first = perStage + embed + (spec.vision() != null ? visionParams(spec) / tp : 0);
        double last = perStage + (!spec.tied() || pp > 1 ? embed : 0) + h;
        double busiest = pp == 1 ? first + (spec.tied() ? 0 : embed) + h : Math.max(first, last);
        double bytes = busiest * 2;
        String size = bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.2f GiB", bytes / (1L << 30))
                : String.format(Locale.ROOT, "%.1f MiB", bytes / (1L << 20));
        s.facts().put("weights per rank", String.format(Locale.ROOT, "≈ %s bf16 on the busiest rank (%,.0f parameters);"
                + " fp32 master weights + Adam add 12 bytes per parameter before distributed-optimizer sharding",
                size, busiest));
    }

    private static double visionParams(ModelSpec spec) {
        ModelSpec.Vision v = spec.vision();
        double vh = v.hidden().value();
        double block = 4 * vh * vh + 3 * vh * v.intermediate().value() + 8 * vh;
        double merged = v.merged().value();
        return v.depth() * block + (1 + v.deepstack().size()) * (merged * merged + merged * v.out().value());
    }
}
