package dev.ckptdiff.check;

import java.util.List;
import java.util.Locale;

import dev.ckptdiff.megatron.LegacyFolders;

/**
 * Whether a model fits a parallel layout before a job is launched: heads and KV groups against TP,
 * layers against PP×VPP, experts against EP, the first-stage rule for Qwen3-VL's deepstack
 * layers, plus the padded vocabulary, per-rank shard shapes and weight memory Megatron will use.
 */
public final class LayoutCheck {
    /**
     * The requested layout; 0 or 1 means "not split". {@code etp}: expert tensor parallelism, 0 for
     * Megatron's default (ETP = TP).
     */
    public record Layout(int tp, int pp, int vpp, int ep, int etp, int cp, int worldSize) {
        public Layout(int tp, int pp, int vpp, int ep) {
            this(tp, pp, vpp, ep, 0);
        }

        public Layout(int tp, int pp, int vpp, int ep, int etp) {
            this(tp, pp, vpp, ep, etp, 1, 0);
        }

        int expertTp() {
            return etp > 0 ? etp : Math.max(1, tp);
        }
    }

    /** How findings name each setting: CLI options, or the YAML keys of an RLinf config. */
    public record Names(String tp, String pp, String vpp, String ep, String etp, String worldSize) {
        public static final Names CLI = new Names("--tp", "--pp", "--vpp", "--ep", "--etp", "--world-size");
        public static final Names RLINF = new Names("actor.model.tensor_model_parallel_size",
                "actor.model.pipeline_model_parallel_size", "actor.model.virtual_pipeline_model_parallel_size",
                "actor.model.expert_model_parallel_size", "actor.model.expert_tensor_parallel_size", "world size");
    }

    private LayoutCheck() {
    }

    public static Section run(ModelSpec spec, Layout l, Names n) {
        Section s = new Section("Parallel layout TP=" + l.tp() + " PP=" + l.pp() + (l.vpp() > 1 ? " VPP=" + l.vpp() : "")
                + (l.ep() > 1 ? " EP=" + l.ep() : "") + (l.etp() > 0 ? " ETP=" + l.etp() : "")
                + (l.cp() > 1 ? " CP=" + l.cp() : "") + (l.worldSize() > 0 ? " on " + l.worldSize() + " GPUs" : ""),
                spec.source());
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
            int etp = l.expertTp();
            long f = spec.moe().intermediate().value();
            if (f % etp != 0) {
                s.findings().add(Finding.error(l.etp() > 0 ? n.etp() : n.tp(), (l.etp() > 0 ? "ETP " : "TP ") + etp
                        + ": moe_intermediate_size " + f + " is not divisible by " + etp + "; expert weights split over"
                        + " the expert-tensor-parallel ranks" + (l.etp() > 0 ? "" : " (ETP defaults to TP)")));
            }
            if (l.etp() > tp) {
                s.findings().add(Finding.warning(n.etp(), "ETP " + l.etp() + " > TP " + tp + ": legacy checkpoint folders"
                        + " are named by the dense TP rank only (mp_rank_TT_EEE), and RLinf's converter refuses ETP > TP"));
            } else if (tp % etp != 0) {
                s.findings().add(Finding.warning(n.etp(), "ETP " + etp + " does not divide TP " + tp + ": legacy checkpoint"
                        + " folders are named by the dense TP rank only, so expert shards of different ETP ranks would share one"));
            } else {
                legacyFolders(s, new LegacyFolders(tp, pp, ep, etp, Math.max(1, l.cp())));
            }
        } else if (ep > 1 || l.etp() > 1) {
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
        worldSize(s, spec, l, n);
        facts(s, spec, tp, pp, vpp, ep, l.expertTp());
        return s;
    }

    /**
     * Megatron-Core's own start-up rules (parallel_state.initialize_model_parallel): the world must divide into
     * TP × PP × CP model replicas, and, for the expert grid, into ETP × EP × PP.
     */
    private static void worldSize(Section s, ModelSpec spec, Layout l, Names n) {
        long world = l.worldSize();
        if (world <= 0) {
            return;
        }
        long tp = Math.max(1, l.tp());
        long pp = Math.max(1, l.pp());
        long cp = Math.max(1, l.cp());
        long model = tp * pp * cp;
        if (world % model != 0) {
            s.findings().add(Finding.error(n.worldSize(), world + " GPUs are not divisible by TP × PP × CP = " + tp + " × "
                    + pp + " × " + cp + " = " + model + "; Megatron-Core refuses to start (world_size is not divisible)"));
        } else {
            s.facts().put("data parallel", Long.toString(world / model));
        }
        if (spec.moe() != null) {
            long expertGrid = (long) l.expertTp() * Math.max(1, l.ep()) * pp;
            if (world % expertGrid != 0) {
                s.findings().add(Finding.error(n.worldSize(), world + " GPUs are not divisible by ETP × EP × PP = "
                        + l.expertTp() + " × " + Math.max(1, l.ep()) + " × " + pp + " = " + expertGrid
                        + "; Megatron-Core refuses to build the expert grid"));
            } else {
                s.facts().put("expert data parallel", Long.toString(world / expertGrid));
            }
        }
    }

    private static final int STAGES_SHOWN = 8;

    /** The mp_rank_* folders a legacy save writes: with ETP < TP not every TP × EP combination. */
    private static void legacyFolders(Section s, LegacyFolders f) {
        long count = f.count();
        List<String> shown = f.folders().limit(STAGES_SHOWN).map(f::name).toList();
        s.facts().put("legacy folders", String.join(", ", shown) + (count > shown.size() ? ", ... " + (count - shown.size())
                + " more" : "") + (count < f.gridSize() ? " (" + count + " of the " + f.gridSize() + " TP × EP"
                + (f.pp() > 1 ? " × PP" : "") + " combinations: Megatron saves from ranks of data-parallel or"
                + " expert-data-parallel rank 0 only)" : ""));
    }

    private static void facts(Section s, ModelSpec spec, int tp, int pp, int vpp, int ep, int etp) {
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
        if (spec.moe() != null && spec.moe().experts().value() % ep == 0) {
            long e = spec.moe().experts().value();
            long f = spec.moe().intermediate().value();
            s.facts().put("experts per rank", String.format(Locale.ROOT, "%d local experts per EP rank (of %d);"
                    + " expert linear_fc1 [%d, %d], expert linear_fc2 [%d, %d] (ETP %d), router [%d, %d] on every rank",
                    e / ep, e, 2 * f / etp, h, h, f / etp, etp, e, h));
        }
        long perChunk = t.layers() / ((long) pp * vpp);
        StringBuilder stages = new StringBuilder();
        // At most STAGES_SHOWN stages and chunks each: --pp and RLinf YAML may claim any number.
        for (int p = 0; p < pp && t.layers() % ((long) pp * vpp) == 0; p++) {
            if (p == STAGES_SHOWN) {
                stages.append("; ... ").append(pp - p).append(" more stages");
                break;
            }
            stages.append(p == 0 ? "" : "; ").append("stage ").append(p).append(':');
            for (int c = 0; c < vpp; c++) {
                if (c == STAGES_SHOWN) {
                    stages.append(" ... ").append(vpp - c).append(" more chunks");
                    break;
                }
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
        // Only the EP rank's own experts, each split over ETP; the router is on every rank.
        double moe = spec.moe() == null ? 0 : spec.moe().experts().value() / (double) ep * 3.0 * h
                * spec.moe().intermediate().value() / etp + spec.moe().experts().value() * h;
        long moeLayers = spec.moe() == null ? 0 : spec.moe().moeLayers(t.layers());
        double layersParams = t.layers() * layer + moeLayers * moe + (t.layers() - moeLayers) * dense;
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
