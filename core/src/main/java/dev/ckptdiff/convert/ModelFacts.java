package dev.ckptdiff.convert;

import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.check.ModelSpec;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;

/** What a Megatron checkpoint's {@code args} must say about a model, from config.json or args. */
public record ModelFacts(long layers, long hidden, long ffn, long heads, long groups, long headDim, long vocab,
                         boolean tied, boolean qkvBias, boolean outBias, boolean qkNorm, double normEps, double ropeTheta,
                         long maxPositions, Experts experts) {

    /**
     * Routed experts: how many, their hidden size, top-k, and which layers are MoE layers (Megatron's
     * {@code moe_layer_freq} as a list). {@link #NONE} for a dense model.
     */
    public record Experts(long count, long ffn, long topk, List<Integer> layerFreq, boolean normTopk) {
        public static final Experts NONE = new Experts(0, 0, 0, List.of(), false);

        public boolean present() {
            return count > 0;
        }
    }

    public static ModelFacts of(JsonNode config, String source) {
        ModelSpec s = ModelSpec.of(config, source);
        if (s.vision() != null && s.moe() != null) {
            throw new BadInputException(source + ": converting " + s.family().id
                    + " is not supported (Llama, Qwen2, Qwen3, Qwen3-MoE, Qwen2.5-VL and Qwen3-VL models)");
        }
        Experts experts = Experts.NONE;
        if (s.moe() != null) {
            List<Integer> freq = new ArrayList<>();
            for (long l = 0; l < s.text().layers(); l++) {
                freq.add(s.moe().isMoeLayer(l) ? 1 : 0);
            }
            experts = new Experts(s.moe().experts().value(), s.moe().intermediate().value(),
                    config.path("num_experts_per_tok").asLong(2), freq, config.path("norm_topk_prob").asBoolean(false));
        }
        ModelSpec.Text t = s.text();
        JsonNode text = config.has("text_config") ? config.get("text_config") : config; // vision-language models nest it
        JsonNode rope = text.path("rope_parameters");
        double theta = text.path("rope_theta").asDouble(rope.path("rope_theta").asDouble(10000.0));
        return new ModelFacts(t.layers(), t.hidden().value(), t.intermediate().value(), t.heads().value(),
                t.kvHeads().value(), t.headDim().value(), t.vocab().value(), s.tied(), t.qkvBias(), t.oBias(), t.qkNorm(),
                text.path("rms_norm_eps").asDouble(1e-6), theta, text.path("max_position_embeddings").asLong(4096),
                experts);
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
                a.getLong("max_position_embeddings", 4096), experts(a, layers));
    }

    private static Experts experts(MegatronArgs a, long layers) {
        long n = a.getLong("num_experts", 0);
        if (n <= 0) {
            return Experts.NONE;
        }
        List<Integer> freq = new ArrayList<>();
        Py f = a.value() == null ? null : PyValues.find(a.value(), "moe_layer_freq").orElse(null);
        if (f instanceof Py.PyList list) {
            list.items.forEach(i -> freq.add(PyValues.asLong(i).orElse(1L).intValue()));
        } else {
            long every = f == null ? 1 : PyValues.asLong(f).orElse(1L);
            for (long l = 0; l < layers; l++) {
                freq.add(l % Math.max(1, every) == 0 ? 1 : 0);
            }
        }
        return new Experts(n, a.getLong("moe_ffn_hidden_size", a.getLong("ffn_hidden_size", -1)),
                a.getLong("moe_router_topk", 2), List.copyOf(freq), !a.getBool("moe_router_pre_softmax").orElse(true));
    }
}
