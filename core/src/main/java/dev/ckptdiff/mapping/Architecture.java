package dev.ckptdiff.mapping;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A model family's Megatron <-> HF table, after Megatron-Bridge's per-model bridges. Both the
 * Transformer Engine spec (norms fused into the following linear) and the local spec are listed:
 * real checkpoints use either.
 */
public record Architecture(String name, List<String> hfArchitectures, List<String> modelTypes, List<Rule> rules) {

    /** A Megatron key's rule and layer, if any rule matches it. */
    public Optional<Match> match(String megatronKey) {
        for (Rule r : rules) {
            int layer = r.match(megatronKey);
            if (layer >= 0) {
                return Optional.of(new Match(r, layer, r.hfNames(layer)));
            }
        }
        return Optional.empty();
    }

    public record Match(Rule rule, int layer, List<String> hfNames) {
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
}
