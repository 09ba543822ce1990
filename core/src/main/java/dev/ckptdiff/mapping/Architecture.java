package dev.ckptdiff.mapping;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A model family's Megatron <-> HF table, after Megatron-Bridge's per-model bridges. Both the
 * Transformer Engine spec (norms fused into the following linear) and the local spec are listed:
 * real checkpoints use either.
 */
public record Architecture(String name, List<String> hfArchitectures, List<String> modelTypes, List<Rule> rules,
                           RuleIndex index) {

    public Architecture(String name, List<String> hfArchitectures, List<String> modelTypes, List<Rule> rules) {
        this(name, hfArchitectures, modelTypes, rules, new RuleIndex(rules));
    }

    /** A (global) Megatron key's rule, layer and expert, if any rule matches it. */
    public Optional<Match> match(String megatronKey) {
        for (RuleIndex.Pattern p : index.candidates(megatronKey)) {
            Rule r = p.rule();
            Rule.Indices at = p.match(megatronKey);
            if (at != null) {
                return Optional.of(new Match(r, at.layer(), at.expert(), r.hfNames(at)));
            }
        }
        return Optional.empty();
    }

    /** {@code expert} is the global expert number, -1 for a key that is not one routed expert's. */
    public record Match(Rule rule, int layer, int expert, List<String> hfNames) {
    }

    /** True when the table has rules for routed experts. */
    public boolean hasExperts() {
        return rules.stream().anyMatch(Rule::perExpert);
    }

    /** Llama's table; Qwen2 uses it too (its QKV bias is just present), Qwen3 adds the q/k norms. */
    static List<Rule> denseDecoder(String meg, String hf, boolean qkNorm) {
        String ml = meg + "decoder.layers.{L}.";
        String hl = hf + "layers.{L}.";
        List<Rule> rules = new ArrayList<>(List.of(
                Rule.of(meg + "embedding.word_embeddings.weight", Split.VOCAB, hf + "embed_tokens.weight"),
                Rule.of(meg + "output_layer.weight", Split.VOCAB, "lm_head.weight"),
                Rule.of(meg + "decoder.final_layernorm.weight", Split.REPLICATED, hf + "norm.weight"),
                Rule.of(ml + "self_attention.linear_qkv.layer_norm_weight", Split.REPLICATED, hl + "input_layernorm.weight"),
                Rule.of(ml + "input_layernorm.weight", Split.REPLICATED, hl + "input_layernorm.weight"),
                Rule.of(ml + "self_attention.linear_qkv.weight", Split.QKV,
                        hl + "self_attn.q_proj.weight", hl + "self_attn.k_proj.weight", hl + "self_attn.v_proj.weight"),
                Rule.of(ml + "self_attention.linear_qkv.bias", Split.QKV,
                        hl + "self_attn.q_proj.bias", hl + "self_attn.k_proj.bias", hl + "self_attn.v_proj.bias"),
                Rule.of(ml + "self_attention.linear_proj.weight", Split.ROW, hl + "self_attn.o_proj.weight"),
                Rule.of(ml + "self_attention.linear_proj.bias", Split.REPLICATED, hl + "self_attn.o_proj.bias"),
                Rule.of(ml + "mlp.linear_fc1.layer_norm_weight", Split.REPLICATED, hl + "post_attention_layernorm.weight"),
                Rule.of(ml + "pre_mlp_layernorm.weight", Split.REPLICATED, hl + "post_attention_layernorm.weight"),
                Rule.of(ml + "mlp.linear_fc1.weight", Split.GATE_UP, hl + "mlp.gate_proj.weight", hl + "mlp.up_proj.weight"),
                Rule.of(ml + "mlp.linear_fc2.weight", Split.ROW, hl + "mlp.down_proj.weight")));
        if (qkNorm) {
            rules.add(Rule.of(ml + "self_attention.q_layernorm.weight", Split.REPLICATED, hl + "self_attn.q_norm.weight"));
            rules.add(Rule.of(ml + "self_attention.k_layernorm.weight", Split.REPLICATED, hl + "self_attn.k_norm.weight"));
        }
        return List.copyOf(rules);
    }

    /**
     * The MoE MLP rows (Megatron-Bridge's Qwen3-MoE bridge; notes/vl-moe-mapping.md section 3): the
     * router replicated on every rank, each routed expert in either form Megatron-Core writes
     * (SequentialMLP's {@code local_experts.K} or TEGroupedMLP's {@code weightK}) split over the
     * expert-tensor-parallel ranks like a dense MLP, and shared experts over the dense TP ranks.
     * Dense layers of the same model keep {@link #denseDecoder}'s MLP rows.
     */
    static List<Rule> moeMlp(String meg, String hf, String sharedExpert) {
        String ml = meg + "decoder.layers.{L}.mlp.";
        String hl = hf + "layers.{L}.mlp.";
        String he = hl + "experts.{E}.";
        String hs = hl + sharedExpert + ".";
        return List.of(
                Rule.of(ml + "router.weight", Split.REPLICATED, hl + "gate.weight"),
                Rule.of(ml + "router.expert_bias", Split.REPLICATED, hl + "gate.e_score_correction_bias"),
                Rule.of(ml + "experts.local_experts.{E}.linear_fc1.weight", Split.GATE_UP,
                        he + "gate_proj.weight", he + "up_proj.weight"),
                Rule.of(ml + "experts.local_experts.{E}.linear_fc2.weight", Split.ROW, he + "down_proj.weight"),
                Rule.of(ml + "experts.linear_fc1.weight{E}", Split.GATE_UP, he + "gate_proj.weight", he + "up_proj.weight"),
                Rule.of(ml + "experts.linear_fc2.weight{E}", Split.ROW, he + "down_proj.weight"),
                Rule.of(ml + "shared_experts.linear_fc1.weight", Split.GATE_UP,
                        hs + "gate_proj.weight", hs + "up_proj.weight"),
                Rule.of(ml + "shared_experts.linear_fc2.weight", Split.ROW, hs + "down_proj.weight"),
                Rule.of(ml + "shared_experts.gate_weight", Split.REPLICATED, hl + "shared_expert_gate.weight"));
    }

    static List<Rule> concat(List<Rule> a, List<Rule> b) {
        List<Rule> all = new ArrayList<>(a);
        all.addAll(b);
        return List.copyOf(all);
    }
}
