package dev.ckptdiff.check;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.io.BadInputException;

/**
 * What a {@code config.json} says about a model's tensors: the family, the language model's
 * dimensions (under {@code text_config} for vision-language models), experts, and the vision tower.
 * Fields transformers forces regardless of the config (Qwen2's QKV bias, Qwen3's q/k norms) are set
 * here, once.
 */
public record ModelSpec(Family family, String source, Text text, Moe moe, Vision vision, boolean tied,
                        String configDtype) {

    public enum Family {
        LLAMA("llama", List.of("LlamaForCausalLM", "MistralForCausalLM"), List.of("llama", "mistral")),
        QWEN2("qwen2", List.of("Qwen2ForCausalLM"), List.of("qwen2")),
        QWEN3("qwen3", List.of("Qwen3ForCausalLM"), List.of("qwen3")),
        QWEN3_MOE("qwen3_moe", List.of("Qwen3MoeForCausalLM"), List.of("qwen3_moe")),
        QWEN2_5_VL("qwen2_5_vl", List.of("Qwen2_5_VLForConditionalGeneration"), List.of("qwen2_5_vl")),
        QWEN3_VL("qwen3_vl", List.of("Qwen3VLForConditionalGeneration"), List.of("qwen3_vl"));

        public final String id;
        final List<String> architectures;
        final List<String> modelTypes;

        Family(String id, List<String> architectures, List<String> modelTypes) {
            this.id = id;
            this.architectures = architectures;
            this.modelTypes = modelTypes;
        }

        public boolean isVision() {
            return this == QWEN2_5_VL || this == QWEN3_VL;
        }
    }

    /** A dimension and where it comes from, e.g. 256 = "num_key_value_heads 4 × head_dim 64". */
    public record Dim(long value, String why) {
    }

    public record Text(Dim hidden, Dim intermediate, long layers, Dim heads, Dim kvHeads, Dim headDim, Dim vocab,
                       boolean qkvBias, boolean oBias, boolean mlpBias, boolean qkNorm) {
        public Dim qRows() {
            return new Dim(heads.value() * headDim.value(), "num_attention_heads " + heads.value() + " × head_dim "
                    + headDim.value());
        }

        public Dim kvRows() {
            return new Dim(kvHeads.value() * headDim.value(), "num_key_value_heads " + kvHeads.value() + " × head_dim "
                    + headDim.value());
        }
    }

    /** {@code expertsKey}: the config key the expert count came from (transformers renamed it). */
    public record Moe(Dim experts, Dim intermediate, long sparseStep, Set<Long> mlpOnlyLayers, String expertsKey, long topk) {
        public boolean isMoeLayer(long layer) {
            return !mlpOnlyLayers.contains(layer) && experts.value() > 0 && (layer + 1) % sparseStep == 0;
        }

        /** How many of layers {@code 0..layers-1} are MoE layers, counted without visiting each. */
        public long moeLayers(long layers) {
            if (experts.value() <= 0) {
                return 0;
            }
            long n = layers / sparseStep;
            for (long l : mlpOnlyLayers) {
                if (l >= 0 && l < layers && (l + 1) % sparseStep == 0) {
                    n--;
                }
            }
            return n;
        }
    }

    public record Vision(Dim hidden, Dim intermediate, long depth, Dim heads, Dim out, long patch, long temporalPatch,
                         long inChannels, long merge, Dim positions, List<Long> deepstack) {
        public Dim merged() {
            return new Dim(hidden.value() * merge * merge, "vision hidden_size " + hidden.value() + " × spatial_merge_size "
                    + merge + "²");
        }
    }

    public static String supported() {
        List<String> all = new ArrayList<>();
        for (Family f : Family.values()) {
            all.addAll(f.architectures);
        }
        return String.join(", ", all);
    }

    public static ModelSpec of(JsonNode config, String source) {
        Family family = family(config, source);
        JsonNode t = family.isVision() && config.has("text_config") ? config.get("text_config") : config;
        long hidden = need(t, "hidden_size", source);
        long heads = need(t, "num_attention_heads", source);
        long kv = optional(t, "num_key_value_heads", heads, source);
        boolean explicitHeadDim = t.path("head_dim").isNumber();
        long headDim = explicitHeadDim ? optional(t, "head_dim", 0, source) : hidden / heads;
        Dim hd = new Dim(headDim, explicitHeadDim ? "head_dim " + headDim : "hidden_size " + hidden + " / num_attention_heads " + heads);
        boolean attnBias = t.path("attention_bias").asBoolean(false);
        boolean qwen2Like = family == Family.QWEN2 || family == Family.QWEN2_5_VL;
        boolean qwen3Like = family == Family.QWEN3 || family == Family.QWEN3_MOE || family == Family.QWEN3_VL;
        Text text = new Text(new Dim(hidden, "hidden_size " + hidden),
                new Dim(need(t, "intermediate_size", source), "intermediate_size " + t.path("intermediate_size").asLong()),
                need(t, "num_hidden_layers", source), new Dim(heads, "num_attention_heads " + heads),
                new Dim(kv, "num_key_value_heads " + kv), hd,
                new Dim(need(t, "vocab_size", source), "vocab_size " + t.path("vocab_size").asLong()),
                qwen2Like || attnBias, family == Family.LLAMA ? attnBias : (qwen3Like && attnBias),
                family == Family.LLAMA && t.path("mlp_bias").asBoolean(false), qwen3Like);
        Moe moe = null;
        if (family == Family.QWEN3_MOE) {
            String key = t.has("num_local_experts") ? "num_local_experts" : "num_experts";
            long experts = need(t, key, source);
            Set<Long> only = new LinkedHashSet<>();
            t.path("mlp_only_layers").forEach(n -> only.add(n.asLong()));
            moe = new Moe(new Dim(experts, key + " " + experts),
                    new Dim(need(t, "moe_intermediate_size", source), "moe_intermediate_size " + t.path("moe_intermediate_size").asLong()),
                    Math.max(1, t.path("decoder_sparse_step").asLong(1)), only, key, t.path("num_experts_per_tok").asLong(0));
        }
        Vision vision = null;
        if (family.isVision()) {
            JsonNode v = config.path("vision_config");
            long vh = need(v, "hidden_size", source + " vision_config");
            List<Long> deep = new ArrayList<>();
            v.path("deepstack_visual_indexes").forEach(n -> deep.add(n.asLong()));
            vision = new Vision(new Dim(vh, "vision hidden_size " + vh),
                    new Dim(need(v, "intermediate_size", source + " vision_config"), "vision intermediate_size "
                            + v.path("intermediate_size").asLong()),
                    need(v, "depth", source + " vision_config"), new Dim(v.path("num_heads").asLong(1), "vision num_heads"),
                    new Dim(v.path("out_hidden_size").asLong(hidden), "vision out_hidden_size " + v.path("out_hidden_size").asLong(hidden)),
                    v.path("patch_size").asLong(14), v.path("temporal_patch_size").asLong(2), v.path("in_channels").asLong(3),
                    v.path("spatial_merge_size").asLong(2),
                    new Dim(v.path("num_position_embeddings").asLong(0), "vision num_position_embeddings "
                            + v.path("num_position_embeddings").asLong(0)), deep);
        }
        boolean tied = config.has("tie_word_embeddings") ? config.get("tie_word_embeddings").asBoolean()
                : t.path("tie_word_embeddings").asBoolean(false);
        String dtype = config.path("torch_dtype").asText(config.path("dtype").asText(t.path("dtype").asText("")));
        return new ModelSpec(family, source, text, moe, vision, tied, dtype);
    }

    static Family family(JsonNode config, String source) {
        for (JsonNode a : config.path("architectures")) {
            for (Family f : Family.values()) {
                if (f.architectures.contains(a.asText())) {
                    return f;
                }
            }
        }
        String type = config.path("model_type").asText("").toLowerCase(Locale.ROOT);
        for (Family f : Family.values()) {
            if (f.modelTypes.contains(type)) {
                return f;
            }
        }
        throw new BadInputException(source + ": architecture " + config.path("architectures") + " (model_type '" + type
                + "') is not supported; supported: " + supported());
    }

    /** Counts (layers, experts, blocks) may be claimed huge: checks are bounded by the files, not by these. */
    private static final long MAX_COUNT = 1L << 53;
    /** Sizes (hidden, heads, vocabulary) beyond this make shapes whose products overflow. */
    private static final long MAX_DIM = (1L << 31) - 1;
    private static final java.util.Set<String> COUNTS = java.util.Set.of("num_hidden_layers", "num_experts",
            "num_local_experts", "depth");

    /**
     * An integer setting read exactly as transformers would use it: a float (64.5, or even 64.0) or a
     * number too large would fail in torch, so it is refused with its key rather than truncated.
     */
    private static long need(JsonNode n, String key, String source) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            throw new BadInputException(source + ": '" + key + "' is missing, expected an integer");
        }
        return integer(v, key, source);
    }

    /** The integer under {@code key}, or {@code fallback} when it is absent or null. */
    private static long optional(JsonNode n, String key, long fallback, String source) {
        JsonNode v = n.get(key);
        return v == null || v.isNull() ? fallback : integer(v, key, source);
    }

    private static long integer(JsonNode v, String key, String source) {
        long max = COUNTS.contains(key) ? MAX_COUNT : MAX_DIM;
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 1 || v.asLong() > max) {
            String shown = v.isNumber() ? v.asText() : v.isTextual() ? "the string \"" + v.asText().replaceAll("\\p{Cntrl}", "?")
                    .substring(0, Math.min(40, v.asText().length())) + "\"" : "a " + v.getNodeType().name().toLowerCase(Locale.ROOT);
            throw new BadInputException(source + ": '" + key + "' is " + (shown.length() > 60 ? shown.substring(0, 60) + "..." : shown)
                    + ", expected an integer in 1.." + max);
        }
        return v.asLong();
    }
}
