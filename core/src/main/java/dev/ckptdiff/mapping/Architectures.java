package dev.ckptdiff.mapping;

import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.megatron.MegatronArgs;

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

    public static final List<Architecture> ALL = List.of(LLAMA, QWEN2, QWEN3, QWEN3_MOE);

    private Architectures() {
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
