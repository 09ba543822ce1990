package dev.ckptdiff.check;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Architectures;
import dev.ckptdiff.mapping.Split;
import dev.ckptdiff.mapping.VisionTowers;
import dev.ckptdiff.megatron.ExpertKeys;
import dev.ckptdiff.megatron.ExpertLayout;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.megatron.RankShard;
import dev.ckptdiff.tensor.Shapes;
import dev.ckptdiff.tensor.Tensor;

/**
 * Megatron shards against their own {@code args}: every key's per-rank shape from the split rules
 * and the layout, the same keys in every layer, and (in a step folder) args against config.json.
 * Reads pickles and headers only.
 */
public final class MegatronCheck {
    private MegatronCheck() {
    }

    public static Section run(MegatronCheckpoint m, Architecture arch, JsonNode hfConfig) {
        Section s = new Section("Megatron checkpoint", m.dir().toString());
        MegatronArgs a = m.args();
        int tp = m.layout().tp();
        s.facts().put("iteration", m.iteration());
        s.facts().put("layout", m.layout().describe() + ", " + m.shards().size() + " shards, " + m.numLayers() + " layers");
        s.facts().put("mapping table", arch.name());
        m.layers().describeMissing().ifPresent(d -> s.findings().add(Finding.error("layers", d)));
        ArgDims ad = ArgDims.of(a);
        long h = ad.hidden();
        long vocab = ad.paddedVocab();
        ExpertLayout experts = m.experts();
        Dims dims = Dims.of(tp, ad, experts.numExperts(), experts.etp(), a.getLong("moe_ffn_hidden_size", -1),
                a.getLong("moe_shared_expert_intermediate_size", -1));
        if (experts.present()) {
            s.facts().put("experts", experts.describe() + ", " + experts.localExperts() + " per EP folder");
            expertArgs(s, m, a);
        }
        List<String> unmapped = new ArrayList<>();
        for (RankShard shard : m.shards()) {
            for (int c = 0; c < shard.chunks().size(); c++) {
                // Per numbered stack (language layers, vision blocks, deepstack mergers): layer -> rules it holds.
                Map<String, Map<Long, TreeSet<String>>> stacks = new TreeMap<>();
                Map<Long, TreeSet<Integer>> expertsPerLayer = new TreeMap<>();
                for (Tensor t : shard.chunks().get(c).values()) {
                    String key = m.globalKey(shard, c, t.name());
                    Optional<Architecture.Match> match = arch.match(key);
                    if (match.isEmpty()) {
                        unmapped.add(shard.folder() + " " + t.name());
                        continue;
                    }
                    String pattern = match.get().rule().megatron();
                    int at = pattern.indexOf("{L}");
                    if (at >= 0) {
                        stacks.computeIfAbsent(pattern.substring(0, at), k -> new TreeMap<>())
                                .computeIfAbsent((long) match.get().layer(), k -> new TreeSet<>())
                                .add(pattern.substring(at + "{L}.".length()));
                    }
                    if (match.get().expert() >= 0) {
                        expertsPerLayer.computeIfAbsent((long) match.get().layer(), k -> new TreeSet<>())
                                .add(ExpertKeys.expertOf(t.name()));
                    }
                    long[] expected = expectedShape(match.get(), key, dims);
                    if (expected != null && !java.util.Arrays.equals(expected, t.shape())) {
                        boolean expert = match.get().expert() >= 0;
                        s.findings().add(Finding.error(shard.folder() + " " + t.name(), "shape " + t.shapeString()
                                + ", but args (" + (expert ? "ETP " + experts.etp() + ", hidden " + h + ", moe_ffn_hidden_size "
                                + dims.moeFfn() : "TP " + tp + ", " + ad.describe() + (experts.present() ? ", num_experts "
                                + experts.numExperts() : "")) + ") imply " + Shapes.toString(expected)
                                + " for a " + (expert ? "routed expert's " : "")
                                + match.get().rule().split().name().toLowerCase(java.util.Locale.ROOT) + " tensor"));
                    }
                }
                // MoE layers (with a router) and dense layers of an MoE model hold different keys: compare each layer
                // with the layers of its own kind, within its numbered stack (language layers, vision blocks, mergers).
                for (Map.Entry<String, Map<Long, TreeSet<String>>> stack : stacks.entrySet()) {
                    Map<Boolean, TreeSet<String>> union = new TreeMap<>();
                    stack.getValue().values().forEach(keys -> union.computeIfAbsent(isMoe(keys), k -> new TreeSet<>()).addAll(keys));
                    String what = stack.getKey().startsWith("decoder.layers.") ? " layer " : " " + stack.getKey();
                    for (Map.Entry<Long, TreeSet<String>> e : stack.getValue().entrySet()) {
                        TreeSet<String> lack = new TreeSet<>(union.get(isMoe(e.getValue())));
                        lack.removeAll(e.getValue());
                        if (!lack.isEmpty()) {
                            s.findings().add(Finding.error(shard.folder() + what + e.getKey(), "lacks " + lack
                                    + ", which the other " + (isMoe(e.getValue()) ? "MoE " : "") + "layers of this shard hold"));
                        }
                    }
                }
                for (Map.Entry<Long, TreeSet<Integer>> e : expertsPerLayer.entrySet()) {
                    if (e.getValue().size() != experts.localExperts()) {
                        s.findings().add(Finding.error(shard.folder() + " layer " + e.getKey(), "holds " + e.getValue().size()
                                + " experts, but num_experts " + experts.numExperts() + " / EP " + experts.ep() + " = "
                                + experts.localExperts() + " per expert-parallel rank"));
                    }
                }
            }
        }
        if (!unmapped.isEmpty()) {
            s.findings().add(Finding.warning("mapping", unmapped.size() + " keys are not in the " + arch.name()
                    + " table and were not shape-checked (e.g. " + unmapped.getFirst() + ")"));
        }
        argsAgainstConfig(s, a, arch, hfConfig, vocab);
        if (hfConfig != null && hfConfig.size() > 0 && Architectures.isVision(arch)) {
            VisionShardCheck.run(s, m, arch, hfConfig);
        }
        return s.coalesced();
    }

    /** In a step folder: the Megatron args must describe the model config.json describes. */
    static void argsAgainstConfig(Section s, MegatronArgs a, Architecture arch, JsonNode hfConfig, long vocab) {
        if (hfConfig == null || hfConfig.size() == 0) {
            return;
        }
        JsonNode t = hfConfig.has("text_config") ? hfConfig.get("text_config") : hfConfig;
        agree(s, a, "hidden_size", t, "hidden_size");
        agree(s, a, "ffn_hidden_size", t, "intermediate_size");
        agree(s, a, "num_attention_heads", t, "num_attention_heads");
        agree(s, a, "num_query_groups", t, "num_key_value_heads");
        agree(s, a, "num_layers", t, "num_hidden_layers");
        if (arch.hasExperts()) {
            expertConfig(s, a, t);
        }
        if (t.path("head_dim").isNumber()) {
            agree(s, a, "kv_channels", t, "head_dim");
        }
        long v = t.path("vocab_size").asLong(-1);
        if (vocab >= 0 && v >= 0 && vocab < v) {
            s.findings().add(Finding.error("args.padded_vocab_size", vocab + " rows, fewer than config.json's vocab_size "
                    + v + ": tokens beyond " + vocab + " have no embedding"));
        }
        boolean tied = hfConfig.path("tie_word_embeddings").asBoolean(t.path("tie_word_embeddings").asBoolean(false));
        Optional<Boolean> untie = a.getBool("untie_embeddings_and_output_weights");
        if (untie.isPresent() && untie.get() == tied) {
            s.findings().add(Finding.error("args.untie_embeddings_and_output_weights", untie.get() + ", but config.json's"
                    + " tie_word_embeddings is " + tied + ": the two copies disagree on tied embeddings"));
        }
        if (arch.name().startsWith("qwen2") && !a.getBool("add_qkv_bias").orElse(true)) {
            s.findings().add(Finding.error("args.add_qkv_bias", "False, but Qwen2 always has QKV biases"));
        }
        if (arch.name().startsWith("qwen3") && !a.getBool("qk_layernorm").orElse(true)) {
            s.findings().add(Finding.error("args.qk_layernorm", "False, but Qwen3 always has q/k norms"));
        }
    }

    private static boolean isMoe(java.util.Set<String> layerKeys) {
        return layerKeys.contains("mlp.router.weight");
    }

    /** The settings that fix shard shapes; -1 where args do not say. */
    private record Dims(int tp, long h, long ffn, long nh, long ng, long hd, long vocab, long experts, int etp,
                        long moeFfn, long sharedFfn) {
        static Dims of(int tp, ArgDims d, long experts, int etp, long moeFfn, long sharedFfn) {
            return new Dims(tp, d.hidden(), d.ffn(), d.heads(), d.groups(), d.headDim(), d.paddedVocab(), experts, etp,
                    moeFfn, sharedFfn);
        }
    }

    /** A global shape (TP 1, ETP 1) from args alone, for torch_dist keys; MoE sizes from the MoE args. */
    static long[] globalShape(Architecture.Match match, String key, MegatronArgs a, ArgDims d) {
        return expectedShape(match, key, Dims.of(1, d, a.getLong("num_experts", -1), 1,
                a.getLong("moe_ffn_hidden_size", -1), a.getLong("moe_shared_expert_intermediate_size", -1)));
    }

    private static long[] expectedShape(Architecture.Match match, String key, Dims d) {
        Split split = match.rule().split();
        boolean bias = key.endsWith(".bias");
        long h = d.h();
        int tp = d.tp();
        long qkv = (d.nh() + 2 * d.ng()) * d.hd();
        if (h <= 0 || VisionTowers.isVision(key)) { // vision shapes come from config.json, not args
            return null;
        }
        if (match.expert() >= 0) { // a routed expert: split over the expert-tensor-parallel ranks
            long f = d.moeFfn();
            return f <= 0 ? null : split == Split.GATE_UP ? new long[]{2 * f / d.etp(), h} : new long[]{h, f / d.etp()};
        }
        if (key.contains(".mlp.router.")) {
            long e = d.experts();
            return e <= 0 ? null : key.endsWith("router.weight") ? new long[]{e, h} : new long[]{e};
        }
        long ffn = key.contains(".shared_experts.") ? d.sharedFfn() : d.ffn();
        if (key.endsWith("shared_experts.gate_weight")) {
            return new long[]{1, h};
        }
        return switch (split) {
            case VOCAB -> d.vocab() > 0 ? new long[]{d.vocab() / tp, h} : null;
            case QKV -> d.nh() > 0 && d.hd() > 0 ? (bias ? new long[]{qkv / tp} : new long[]{qkv / tp, h}) : null;
            case GATE_UP -> ffn > 0 ? new long[]{2 * ffn / tp, h} : null;
            case ROW -> key.endsWith("linear_fc2.weight") ? (ffn > 0 ? new long[]{h, ffn / tp} : null)
                    : new long[]{h, d.nh() * d.hd() / tp};
            case COLUMN, HEAD_QKV -> null;
            case REPLICATED -> key.contains("q_layernorm") || key.contains("k_layernorm") ? new long[]{d.hd()} : new long[]{h};
        };
    }

    /** The MoE settings in args against the expert keys the shards hold. */
    private static void expertArgs(Section s, MegatronCheckpoint m, MegatronArgs a) {
        ExpertLayout x = m.experts();
        boolean anyExpertKey = m.shards().stream().flatMap(r -> r.chunks().stream()).flatMap(c -> c.keySet().stream())
                .anyMatch(k -> ExpertKeys.expertOf(k) >= 0);
        Optional<Boolean> grouped = a.getBool("moe_grouped_gemm");
        if (anyExpertKey && grouped.isPresent() && grouped.get() != x.grouped()) {
            s.findings().add(Finding.error("args.moe_grouped_gemm", grouped.get() + ", but the shards hold "
                    + (x.grouped() ? "Transformer Engine grouped experts (linear_fc1.weightK)"
                    : "sequential experts (local_experts.K.linear_fc1.weight)") + ": Megatron-Core would not load them"));
        }
        if (a.getLong("num_experts").isEmpty()) {
            s.findings().add(Finding.warning("args.num_experts", "not set although the shards hold experts; "
                    + x.localExperts() + " per folder × EP " + x.ep() + " assumed"));
        }
        long topk = a.getLong("moe_router_topk", -1);
        if (topk > x.numExperts()) {
            s.findings().add(Finding.error("args.moe_router_topk", topk + " > num_experts " + x.numExperts()));
        }
        long moeFfn = a.getLong("moe_ffn_hidden_size", -1);
        if (moeFfn > 0 && moeFfn % x.etp() != 0) {
            s.findings().add(Finding.error("args.moe_ffn_hidden_size", moeFfn + " is not divisible by"
                    + " expert_tensor_parallel_size " + x.etp()));
        }
    }

    /** config.json's MoE fields against args. */
    private static void expertConfig(Section s, MegatronArgs a, JsonNode t) {
        agree(s, a, "num_experts", t, t.has("num_local_experts") ? "num_local_experts" : "num_experts");
        agree(s, a, "moe_ffn_hidden_size", t, "moe_intermediate_size");
        agree(s, a, "moe_router_topk", t, "num_experts_per_tok");
    }


    private static void agree(Section s, MegatronArgs a, String arg, JsonNode t, String cfg) {
        OptionalLong x = a.getLong(arg);
        if (x.isPresent() && t.path(cfg).isNumber() && x.getAsLong() != t.get(cfg).asLong()) {
            s.findings().add(Finding.error("args." + arg, x.getAsLong() + ", but config.json's " + cfg + " is "
                    + t.get(cfg).asLong() + ": the Megatron and HF copies describe different models"));
        }
    }
}
