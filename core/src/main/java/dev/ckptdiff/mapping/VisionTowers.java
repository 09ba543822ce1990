package dev.ckptdiff.mapping;

import java.util.ArrayList;
import java.util.List;

/**
 * The vision towers of the vision-language families, as Megatron-Bridge lays them out
 * (notes/vl-moe-mapping.md sections 1 and 2). {@code {L}} here is a vision block, not a language
 * layer: vision towers run whole on the first pipeline stage, so their block numbers are global.
 */
public final class VisionTowers {
    /** Megatron key prefixes of the vision towers (Qwen2.5-VL keeps HF's module, Qwen3-VL has Megatron's). */
    private static final List<String> PREFIXES = List.of("visual.", "vision_model.");

    private VisionTowers() {
    }

    /** True for a Megatron key of a vision tower (never a language-model layer, never pipeline-split). */
    public static boolean isVision(String megatronKey) {
        for (String p : PREFIXES) { // asked of every key of a shard: a loop, not a stream
            if (megatronKey.startsWith(p)) {
                return true;
            }
        }
        return false;
    }

    /** Qwen2.5-VL: transformers' own module under {@code visual.}, HF names, whole on every TP rank. */
    static List<Rule> qwen25(String hf) {
        List<Rule> rules = new ArrayList<>();
        List<String> names = new ArrayList<>(List.of("patch_embed.proj.weight", "merger.ln_q.weight"));
        for (String p : List.of("merger.mlp.0.", "merger.mlp.2.", "blocks.{L}.attn.qkv.", "blocks.{L}.attn.proj.",
                "blocks.{L}.mlp.gate_proj.", "blocks.{L}.mlp.up_proj.", "blocks.{L}.mlp.down_proj.")) {
            names.add(p + "weight");
            names.add(p + "bias");
        }
        names.add("blocks.{L}.norm1.weight");
        names.add("blocks.{L}.norm2.weight");
        for (String n : names) {
            rules.add(Rule.of("visual." + n, Split.REPLICATED, hf + n));
        }
        return List.copyOf(rules);
    }

    /**
     * Qwen3-VL: Megatron's vision model under {@code vision_model.}: QKV per head, LayerNorm (weight
     * and bias) fused into linear_qkv / linear_fc1, non-gated MLP, mergers with {@code patch_norm}.
     */
    static List<Rule> qwen3(String hf) {
        String m = "vision_model.";
        String ml = m + "decoder.layers.{L}.";
        String hl = hf + "blocks.{L}.";
        List<Rule> rules = new ArrayList<>(List.of(
                Rule.of(m + "patch_embed.proj.weight", Split.REPLICATED, hf + "patch_embed.proj.weight"),
                Rule.of(m + "patch_embed.proj.bias", Split.REPLICATED, hf + "patch_embed.proj.bias"),
                Rule.of(m + "pos_embed.weight", Split.REPLICATED, hf + "pos_embed.weight"),
                Rule.of(ml + "self_attention.linear_qkv.layer_norm_weight", Split.REPLICATED, hl + "norm1.weight"),
                Rule.of(ml + "self_attention.linear_qkv.layer_norm_bias", Split.REPLICATED, hl + "norm1.bias"),
                Rule.of(ml + "self_attention.linear_qkv.weight", Split.HEAD_QKV, hl + "attn.qkv.weight"),
                Rule.of(ml + "self_attention.linear_qkv.bias", Split.HEAD_QKV, hl + "attn.qkv.bias"),
                Rule.of(ml + "self_attention.linear_proj.weight", Split.ROW, hl + "attn.proj.weight"),
                Rule.of(ml + "self_attention.linear_proj.bias", Split.REPLICATED, hl + "attn.proj.bias"),
                Rule.of(ml + "mlp.linear_fc1.layer_norm_weight", Split.REPLICATED, hl + "norm2.weight"),
                Rule.of(ml + "mlp.linear_fc1.layer_norm_bias", Split.REPLICATED, hl + "norm2.bias")));
        rules.addAll(mlp(ml + "mlp.", hl + "mlp."));
        rules.addAll(merger(m + "merger.", hf + "merger."));
        rules.addAll(merger(m + "decoder.deepstack_merger_list.{L}.", hf + "deepstack_merger_list.{L}."));
        return List.copyOf(rules);
    }

    /** A patch merger: its norm is {@code patch_norm} in Megatron, {@code norm} in HF. */
    private static List<Rule> merger(String meg, String hf) {
        List<Rule> rules = new ArrayList<>(List.of(
                Rule.of(meg + "patch_norm.weight", Split.REPLICATED, hf + "norm.weight"),
                Rule.of(meg + "patch_norm.bias", Split.REPLICATED, hf + "norm.bias")));
        rules.addAll(mlp(meg, hf));
        return rules;
    }

    /** Non-gated fc1 (column-parallel, bias split too) and fc2 (row-parallel, bias replicated). */
    private static List<Rule> mlp(String meg, String hf) {
        return List.of(
                Rule.of(meg + "linear_fc1.weight", Split.COLUMN, hf + "linear_fc1.weight"),
                Rule.of(meg + "linear_fc1.bias", Split.COLUMN, hf + "linear_fc1.bias"),
                Rule.of(meg + "linear_fc2.weight", Split.ROW, hf + "linear_fc2.weight"),
                Rule.of(meg + "linear_fc2.bias", Split.REPLICATED, hf + "linear_fc2.bias"));
    }
}
