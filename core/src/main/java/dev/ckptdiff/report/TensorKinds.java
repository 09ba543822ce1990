package dev.ckptdiff.report;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a tensor goes in the per-layer picture: its row (the layer, or "global") and its column (the kind of
 * tensor). Works on HF names and on Megatron names (consistency checks are named by their Megatron key), so a
 * fault shows in the same cell whichever side names it.
 */
public final class TensorKinds {
    private TensorKinds() {
    }

    /** A cell of the picture: the row's stack ("" for the language model), layer (-1: global) and column. */
    public record Place(String stack, int layer, String column) {
        public String row() {
            return layer < 0 ? (stack.isEmpty() ? "global" : stack) : (stack.isEmpty() ? "layer " : stack + " ") + layer;
        }
    }

    private record Rule(Pattern pattern, String column) {
        Rule(String regex, String column) {
            this(Pattern.compile(regex), column);
        }
    }

    /** First match wins: experts before their gate/up/down, norms before the fused fc1 they are stored in. */
    private static final List<Rule> COLUMNS = List.of(
            new Rule("\\.experts?\\.|shared_expert(?!_gate)|\\.local_experts\\.", "experts"),
            new Rule("\\.mlp\\.gate\\.|\\.router\\.|shared_expert_gate", "router"),
            new Rule("norm|layer_norm", "norms"),
            new Rule("embed_tokens|word_embeddings|\\.wte\\.", "embed"),
            new Rule("lm_head|output_layer", "lm_head"),
            new Rule("linear_qkv|qkv_proj|c_attn", "qkv"),
            new Rule("q_proj|linear_q\\.", "q"),
            new Rule("k_proj|linear_k\\.", "k"),
            new Rule("v_proj|linear_v\\.", "v"),
            new Rule("o_proj|linear_proj|attn\\.dense", "o"),
            new Rule("gate_up_proj|linear_fc1", "gate/up"),
            new Rule("gate_proj", "gate"),
            new Rule("up_proj", "up"),
            new Rule("down_proj|linear_fc2", "down"));

    /** Columns in the order a person reads a layer: attention, MLP, norms, MoE, then the ends of the model. */
    public static final List<String> ORDER = List.of("embed", "q", "k", "v", "qkv", "o", "gate", "up", "gate/up", "down",
            "norms", "router", "experts", "lm_head", "other");

    private static final Pattern LAYER = Pattern.compile("^(.*?)(?:^|\\.)(?:layers|blocks|h)\\.(\\d+)\\.");
    private static final Pattern WRAPPERS = Pattern.compile("^(?:(?:module|model|decoder|language_model|transformer)(?:\\.|$))+");
    private static final Pattern CHECK_SUFFIX = Pattern.compile(" \\([^)]*\\)$");

    public static Place of(String name) {
        String n = CHECK_SUFFIX.matcher(name).replaceFirst("");
        String column = "other";
        for (Rule r : COLUMNS) {
            if (r.pattern().matcher(n).find()) {
                column = r.column();
                break;
            }
        }
        Matcher m = LAYER.matcher(n);
        if (!m.find()) {
            return new Place("", -1, column);
        }
        String stack = WRAPPERS.matcher(m.group(1)).replaceFirst("");
        try {
            return new Place(stack, Integer.parseInt(m.group(2)), column);
        } catch (NumberFormatException e) {
            return new Place(stack, -1, column); // a layer number past int: keep it, unplaced, in the stack's row
        }
    }
}
