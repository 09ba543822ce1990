package dev.ckptdiff.check;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Split;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.megatron.RankShard;
import dev.ckptdiff.tensor.Shapes;
import dev.ckptdiff.tensor.Tensor;

/**
 * Megatron shards against their own {@code args}: every key's per-rank shape from the split rules
 * and the layout, the same keys in every layer, and (in a step folder) args against config.json.
 * Reads pickles and headers only.
 */
public final class MegatronCheck {
    private MegatronCheck() {
    }

    public static Section run(MegatronCheckpoint m, Architecture arch, JsonNode hfConfig) {
        Section s = new Section("Megatron checkpoint", m.dir().toString());
        MegatronArgs a = m.args();
        int tp = m.layout().tp();
        s.facts().put("iteration", m.iteration());
        s.facts().put("layout", m.layout().describe() + ", " + m.shards().size() + " shards, " + m.numLayers() + " layers");
        s.facts().put("mapping table", arch.name());
        ArgDims dims = ArgDims.of(a);
        List<String> unmapped = new ArrayList<>();
        for (RankShard shard : m.shards()) {
            for (int c = 0; c < shard.chunks().size(); c++) {
                Map<Long, TreeSet<String>> perLayer = new TreeMap<>();
                for (Tensor t : shard.chunks().get(c).values()) {
                    String key = m.globalKey(shard, c, t.name());
                    Optional<Architecture.Match> match = arch.match(key);
                    if (match.isEmpty()) {
                        unmapped.add(shard.folder() + " " + t.name());
                        continue;
                    }
                    if (match.get().rule().megatron().contains("{L}")) {
                        perLayer.computeIfAbsent((long) match.get().layer(), k -> new TreeSet<>())
                                .add(t.name().substring(t.name().indexOf('.', "decoder.layers.".length()) + 1));
                    }
                    long[] expected = expectedShape(match.get(), key, tp, dims);
                    if (expected != null && !java.util.Arrays.equals(expected, t.shape())) {
                        s.findings().add(Finding.error(shard.folder() + " " + t.name(), "shape " + t.shapeString()
                                + ", but args (TP " + tp + ", " + dims.describe() + ") imply " + Shapes.toString(expected)
                                + " for a " + match.get().rule().split().name().toLowerCase(java.util.Locale.ROOT) + " tensor"));
                    }
                }
                TreeSet<String> union = new TreeSet<>();
                perLayer.values().forEach(union::addAll);
                for (Map.Entry<Long, TreeSet<String>> e : perLayer.entrySet()) {
                    TreeSet<String> lack = new TreeSet<>(union);
                    lack.removeAll(e.getValue());
                    if (!lack.isEmpty()) {
                        s.findings().add(Finding.error(shard.folder() + " layer " + e.getKey(), "lacks " + lack
                                + ", which the other layers of this shard hold"));
                    }
                }
            }
        }
        if (!unmapped.isEmpty()) {
            s.findings().add(Finding.warning("mapping", unmapped.size() + " keys are not in the " + arch.name()
                    + " table and were not shape-checked (e.g. " + unmapped.getFirst() + ")"));
        }
        argsAgainstConfig(s, a, arch, hfConfig, dims.paddedVocab());
        return s.coalesced();
    }

    /** In a step folder: the Megatron args must describe the model config.json describes. */
    static void argsAgainstConfig(Section s, MegatronArgs a, Architecture arch, JsonNode hfConfig, long vocab) {
        if (hfConfig == null || hfConfig.size() == 0) {
            return;
        }
        JsonNode t = hfConfig.has("text_config") ? hfConfig.get("text_config") : hfConfig;
        agree(s, a, "hidden_size", t, "hidden_size");
        agree(s, a, "ffn_hidden_size", t, "intermediate_size");
        agree(s, a, "num_attention_heads", t, "num_attention_heads");
        agree(s, a, "num_query_groups", t, "num_key_value_heads");
        agree(s, a, "num_layers", t, "num_hidden_layers");
        if (t.path("head_dim").isNumber()) {
            agree(s, a, "kv_channels", t, "head_dim");
        }
        long v = t.path("vocab_size").asLong(-1);
        if (vocab >= 0 && v >= 0 && vocab < v) {
            s.findings().add(Finding.error("args.padded_vocab_size", vocab + " rows, fewer than config.json's vocab_size "
                    + v + ": tokens beyond " + vocab + " have no embedding"));
        }
        boolean tied = hfConfig.path("tie_word_embeddings").asBoolean(t.path("tie_word_embeddings").asBoolean(false));
        Optional<Boolean> untie = a.getBool("untie_embeddings_and_output_weights");
        if (untie.isPresent() && untie.get() == tied) {
            s.findings().add(Finding.error("args.untie_embeddings_and_output_weights", untie.get() + ", but config.json's"
                    + " tie_word_embeddings is " + tied + ": the two copies disagree on tied embeddings"));
        }
        if (arch.name().equals("qwen2") && !a.getBool("add_qkv_bias").orElse(true)) {
            s.findings().add(Finding.error("args.add_qkv_bias", "False, but Qwen2 always has QKV biases"));
        }
        if (arch.name().equals("qwen3") && !a.getBool("qk_layernorm").orElse(true)) {
            s.findings().add(Finding.error("args.qk_layernorm", "False, but Qwen3 always has q/k norms"));
        }
    }

    static long[] expectedShape(Architecture.Match match, String key, int tp, ArgDims d) {
        long h = d.hidden();
        long ffn = d.ffn();
        long nh = d.heads();
        long ng = d.groups();
        long hd = d.headDim();
        long vocab = d.paddedVocab();
        Split split = match.rule().split();
        boolean bias = key.endsWith(".bias");
        long qkv = (nh + 2 * ng) * hd;
        if (h <= 0) {
            return null;
        }
        return switch (split) {
            case VOCAB -> vocab > 0 ? new long[]{vocab / tp, h} : null;
            case QKV -> nh > 0 && hd > 0 ? (bias ? new long[]{qkv / tp} : new long[]{qkv / tp, h}) : null;
            case GATE_UP -> ffn > 0 ? new long[]{2 * ffn / tp, h} : null;
            case ROW -> key.endsWith("linear_fc2.weight") ? (ffn > 0 ? new long[]{h, ffn / tp} : null)
                    : new long[]{h, nh * hd / tp};
            case COLUMN -> null;
            case REPLICATED -> key.contains("q_layernorm") || key.contains("k_layernorm") ? new long[]{hd} : new long[]{h};
        };
    }

    private static void agree(Section s, MegatronArgs a, String arg, JsonNode t, String cfg) {
        OptionalLong x = a.getLong(arg);
        if (x.isPresent() && t.path(cfg).isNumber() && x.getAsLong() != t.get(cfg).asLong()) {
            s.findings().add(Finding.error("args." + arg, x.getAsLong() + ", but config.json's " + cfg + " is "
                    + t.get(cfg).asLong() + ": the Megatron and HF copies describe different models"));
        }
    }
}
