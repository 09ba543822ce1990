package dev.ckptdiff.mapping;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.megatron.MegatronCheckpoint;

/** The registry: every supported architecture, and how to tell which one a checkpoint is. */
public final class Architectures {
    public static final Architecture LLAMA = new Architecture("llama",
            List.of("LlamaForCausalLM", "MistralForCausalLM"), List.of("llama", "mistral"),
            Architecture.denseDecoder("", "model.", false));
    public static final Architecture QWEN2 = new Architecture("qwen2",
            List.of("Qwen2ForCausalLM"), List.of("qwen2"),
            Architecture.denseDecoder("", "model.", false));
    public static final Architecture QWEN3 = new Architecture("qwen3",
            List.of("Qwen3ForCausalLM"), List.of("qwen3"),
            Architecture.denseDecoder("", "model.", true));

    /** Qwen3-MoE: Qwen3's attention, MoE MLPs (and dense ones in {@code mlp_only_layers}). */
    public static final Architecture QWEN3_MOE = new Architecture("qwen3_moe",
            List.of("Qwen3MoeForCausalLM"), List.of("qwen3_moe"),
            Architecture.concat(Architecture.denseDecoder("", "model.", true),
                    Architecture.moeMlp("", "model.", "shared_expert")));

    /** Megatron-Bridge's Qwen2.5-VL; HF names in the older layout, as the Hub files have them. */
    public static final Architecture QWEN2_5_VL = new Architecture("qwen2_5_vl",
            List.of("Qwen2_5_VLForConditionalGeneration"), List.of("qwen2_5_vl"),
            concat(Architecture.denseDecoder("language_model.", "model.", false), VisionTowers.qwen25("visual.")));
    /** Megatron-Bridge's Qwen3-VL (dense); HF names in the newer layout, as the Hub files have them. */
    public static final Architecture QWEN3_VL = new Architecture("qwen3_vl",
            List.of("Qwen3VLForConditionalGeneration"), List.of("qwen3_vl"),
            concat(Architecture.denseDecoder("language_model.", "model.language_model.", true),
                    VisionTowers.qwen3("model.visual.")));

    public static final List<Architecture> ALL = List.of(LLAMA, QWEN2, QWEN3, QWEN3_MOE, QWEN2_5_VL, QWEN3_VL);

    private Architectures() {
    }

    private static List<Rule> concat(List<Rule> a, List<Rule> b) {
        return java.util.stream.Stream.concat(a.stream(), b.stream()).toList();
    }

    /** True for the vision-language families (their HF names come in two layouts, {@link HfKeyLayout}). */
    public static boolean isVision(Architecture arch) {
        return arch == QWEN2_5_VL || arch == QWEN3_VL;
    }

    public static String supported() {
        return ALL.stream().flatMap(a -> a.hfArchitectures().stream()).collect(Collectors.joining(", "));
    }

    /** From config.json's {@code architectures} or {@code model_type}. */
    public static Architecture fromConfig(JsonNode config, String where) {
        for (JsonNode a : config.path("architectures")) {
            for (Architecture arch : ALL) {
                if (arch.hfArchitectures().contains(a.asText())) {
                    return arch;
                }
            }
        }
        String type = config.path("model_type").asText("");
        for (Architecture arch : ALL) {
            if (arch.modelTypes().contains(type.toLowerCase(Locale.ROOT))) {
                return arch;
            }
        }
        throw new BadInputException(where + ": architecture " + config.path("architectures") + " (model_type '" + type
                + "') is not supported; supported: " + supported());
    }

    /** Vision-language families by their vision tower's Megatron key prefix (args do not describe it). */
    private static final Map<String, Architecture> BY_VISION_PREFIX = Map.of("vision_model.", QWEN3_VL, "visual.", QWEN2_5_VL);

    /** Without an HF side: a vision-language family from its keys, else from args ({@link #fromArgs}). */
    public static Architecture fromMegatron(MegatronCheckpoint m) {
        for (String key : m.shards().getFirst().chunks().getFirst().keySet()) {
            for (Map.Entry<String, Architecture> e : BY_VISION_PREFIX.entrySet()) {
                if (key.startsWith(e.getKey())) {
                    return e.getValue();
                }
            }
        }
        return fromArgs(m.args());
    }

    /** Without an HF side: Qwen3(-MoE) if args say q/k layernorm, Qwen2 if QKV bias, else Llama. */
    public static Architecture fromArgs(MegatronArgs args) {
        boolean moe = args.getLong("num_experts").orElse(0) > 0;
        if (moe && args.getBool("qk_layernorm").orElse(false)) {
            return QWEN3_MOE;
        }
        if (args.getBool("qk_layernorm").orElse(false)) {
            return QWEN3;
        }
        if (args.getBool("add_qkv_bias").orElse(false)) {
            return QWEN2;
        }
        return LLAMA;
    }
}
