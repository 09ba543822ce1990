package dev.ckptdiff.hf;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.Integral;
import dev.ckptdiff.io.JsonFiles;

/**
 * A model's {@code config.json}, with the sizes the readers rely on checked once on reading: each
 * must be a whole number in int range (torch takes no float sizes, and no real model comes near
 * 2^31), so that no later {@code asLong()} can quietly turn 64.5 into 64 or 2^64+2 into 2.
 */
public final class ConfigJson {
    /** Where sizes live: the top level and the sub-configs of multimodal models. */
    private static final List<String> SECTIONS = List.of("", "text_config", "vision_config");

    /** Keys read as sizes or counts by ModelSpec, ModelFacts, Views and the mapping tables. */
    private static final Set<String> SIZES = Set.of("hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings",
            "moe_intermediate_size", "shared_expert_intermediate_size", "num_experts", "num_local_experts",
            "num_experts_per_tok", "decoder_sparse_step", "depth", "num_heads", "out_hidden_size", "patch_size",
            "temporal_patch_size", "in_channels", "spatial_merge_size", "num_position_embeddings");

    /** Keys holding lists of layer numbers. */
    private static final Set<String> SIZE_LISTS = Set.of("mlp_only_layers", "deepstack_visual_indexes");

    private ConfigJson() {
    }

    public static JsonNode read(Path file) {
        JsonNode root = JsonFiles.read(file, JsonFiles.MAX_CONFIG, "config.json");
        if (!root.isObject()) {
            throw BadInputException.in(file, "is not a JSON object of settings");
        }
        checkSizes(root, file);
        return root;
    }

    static void checkSizes(JsonNode root, Path file) {
        for (String section : SECTIONS) {
            JsonNode node = section.isEmpty() ? root : root.get(section);
            if (node == null || !node.isObject()) {
                continue;
            }
            String prefix = section.isEmpty() ? "" : section + ".";
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                String key = prefix + e.getKey();
                if (SIZES.contains(e.getKey()) && !e.getValue().isNull()) {
                    integral(file, key, e.getValue());
                } else if (SIZE_LISTS.contains(e.getKey()) && e.getValue().isArray()) {
                    for (int i = 0; i < e.getValue().size(); i++) {
                        integral(file, key + "[" + i + "]", e.getValue().get(i));
                    }
                }
            }
        }
    }

    private static void integral(Path file, String key, JsonNode v) {
        if (v.isContainerNode()) {
            return; // some model families write e.g. patch_size as [h, w]; nothing here narrows those
        }
        Object value = v.isNumber() ? v.numberValue() : v.isBoolean() ? v.booleanValue() : v.isNull() ? null : v.asText();
        Integral.of(value, file.toString(), key, 0, Integer.MAX_VALUE);
    }
}
