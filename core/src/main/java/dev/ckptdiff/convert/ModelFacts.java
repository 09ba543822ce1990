package dev.ckptdiff.convert;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.check.ModelSpec;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.io.BadInputException;

/** What a Megatron checkpoint's {@code args} must say about a dense model, from config.json or args. */
public record ModelFacts(long layers, long hidden, long ffn, long heads, long groups, long headDim, long vocab,
                         boolean tied, boolean qkvBias, boolean outBias, boolean qkNorm, double normEps, double ropeTheta,
                         long maxPositions) {

    public static ModelFacts of(JsonNode config, String source) {
        ModelSpec s = ModelSpec.of(config, source);
        if (s.moe() != null) {
            throw new BadInputException(source + ": converting " + s.family().id
                    + " is not supported (dense Llama, Qwen2, Qwen3, Qwen2.5-VL and Qwen3-VL models only)");
        }
        ModelSpec.Text t = s.text();
        JsonNode text = config.has("text_config") ? config.get("text_config") : config; // vision-language models nest it
        JsonNode rope = text.path("rope_parameters");
        double theta = text.path("rope_theta").asDouble(rope.path("rope_theta").asDouble(10000.0));
        return new ModelFacts(t.layers(), t.hidden().value(), t.intermediate().value(), t.heads().value(),
                t.kvHeads().value(), t.headDim().value(), t.vocab().value(), s.tied(), t.qkvBias(), t.oBias(), t.qkNorm(),
                text.path("rms_norm_eps").asDouble(1e-6), theta, text.path("max_position_embeddings").asLong(4096));
    }

    public static ModelFacts of(MegatronArgs a, long layers, long vocab) {
        long heads = a.getLong("num_attention_heads", -1);
        long groups = a.getBool("group_query_attention").orElse(true) ? a.getLong("num_query_groups", heads) : heads;
        long hidden = a.getLong("hidden_size", -1);
        return new ModelFacts(layers, hidden, a.getLong("ffn_hidden_size", -1), heads, groups,
                a.getLong("kv_channels", hidden / Math.max(1, heads)), vocab,
                !a.getBool("untie_embeddings_and_output_weights").orElse(false), a.getBool("add_qkv_bias").orElse(false),
                a.getBool("add_bias_linear").orElse(false), a.getBool("qk_layernorm").orElse(false),
                a.getDouble("norm_epsilon", 1e-6), a.getDouble("rotary_base", 10000.0),
                a.getLong("max_position_embeddings", 4096));
    }
}
