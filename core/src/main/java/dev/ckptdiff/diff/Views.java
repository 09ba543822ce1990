package dev.ckptdiff.diff;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Rule;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.megatron.RankShard;
import dev.ckptdiff.tensor.Tensor;
import dev.ckptdiff.mapping.Split;

/** Builds {@link ModelView}s: HF folders as they are, Megatron shards merged and renamed to HF names. */
public final class Views {
    private Views() {
    }

    public static ModelView hf(HfCheckpoint hf, String label) {
        Map<String, Assembled> tensors = new LinkedHashMap<>();
        for (Tensor t : hf.tensors().values()) {
            String file = java.nio.file.Path.of(t.origin()).getFileName().toString();
            tensors.put(t.name(), Assembled.single(t.name(), Piece.whole(t, new Source(label, file, t.name(), ""))));
        }
        List<Check> checks = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        String embed = tensors.keySet().stream().filter(n -> n.endsWith("embed_tokens.weight")).findFirst().orElse(null);
        if (tied(hf.config()) && embed != null && tensors.containsKey("lm_head.weight")) {
            // A tied model's lm_head is the embedding; a saved copy must equal it.
            checks.add(new Check(Check.Kind.TIED_COPY, "lm_head.weight", tensors.get(embed),
                    tensors.remove("lm_head.weight"), "tie_word_embeddings is true: lm_head.weight must equal " + embed));
            notes.add("lm_head.weight is saved although the model is tied: checked against " + embed);
        }
        return new ModelView(label, "hf", tensors, checks, notes);
    }

    public static boolean tied(JsonNode config) {
        JsonNode text = config.path("text_config");
        if (config.has("tie_word_embeddings")) {
            return config.get("tie_word_embeddings").asBoolean();
        }
        return text.path("tie_word_embeddings").asBoolean(false);
    }

    /** Head geometry needed to split fused QKV: from args (how Megatron wrote it), else config.json. */
    public record Dims(long heads, long groups, long headDim) {
        /** Query heads per group, after checking the geometry can split a fused QKV tensor at all. */
        public long headsPerGroup(String where) {
            if (heads <= 0 || groups <= 0 || headDim <= 0 || heads % groups != 0) {
                throw new BadInputException(where + ": cannot split fused QKV: heads " + heads + ", query groups " + groups
                        + ", head dim " + headDim + " (from args / config.json)");
            }
            return heads / groups;
        }

        public static Dims of(MegatronArgs args, JsonNode config) {
            JsonNode c = config != null && config.has("text_config") ? config.get("text_config") : config;
            long heads = args.getLong("num_attention_heads").orElse(c == null ? -1 : c.path("num_attention_heads").asLong(-1));
            boolean gqa = args.getBool("group_query_attention").orElse(true);
            long groups = gqa ? args.getLong("num_query_groups").orElse(-1) : heads;
            if (groups <= 0 && c != null) {
                groups = c.path("num_key_value_heads").asLong(heads);
            }
            if (groups <= 0) {
                groups = heads;
            }
            long hidden = args.getLong("hidden_size").orElse(c == null ? -1 : c.path("hidden_size").asLong(-1));
            long headDim = args.getLong("kv_channels").orElse(-1);
            if (headDim <= 0 && c != null && c.has("head_dim") && !c.get("head_dim").isNull()) {
                headDim = c.get("head_dim").asLong();
            }
            if (headDim <= 0 && heads > 0 && hidden > 0) {
                headDim = hidden / heads;
            }
            return new Dims(heads, groups, headDim);
        }
    }

    public static ModelView megatron(MegatronCheckpoint m, Architecture arch, JsonNode hfConfig, String label) {
        MegatronArgs args = m.args();
        Dims dims = Dims.of(args, hfConfig);
        int tp = m.layout().tp();
        boolean tied = hfConfig != null && hfConfig.size() > 0 ? tied(hfConfig)
                : !args.getBool("untie_embeddings_and_output_weights").orElse(false);
        record Entry(RankShard shard, Tensor tensor, Architecture.Match match) {
        }
        // Keyed by global Megatron key and stage: a key must be on one stage only (else it is an error below).
        record Group(String key, int stage) {
        }
        Map<Group, List<Entry>> byKey = new TreeMap<>((x, y) -> x.key().equals(y.key())
                ? Integer.compare(x.stage(), y.stage()) : naturalOrder(x.key(), y.key()));
        Map<String, Assembled> tensors = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        for (RankShard s : m.shards()) {
            for (int v = 0; v < s.chunks().size(); v++) {
                for (Tensor t : s.chunks().get(v).values()) {
                    String key = m.globalKey(s, v, t.name());
                    Optional<Architecture.Match> match = arch.match(key);
                    if (match.isEmpty()) {
                        Source src = new Source(label, s.folder(), t.name(), "");
                        tensors.putIfAbsent(key, Assembled.single(key, Piece.whole(t, src)));
                        continue;
                    }
                    byKey.computeIfAbsent(new Group(key, s.ppRank()), k -> new ArrayList<>())
                            .add(new Entry(s, t, match.get()));
                }
            }
            s.skipped().forEach(k -> notes.add(s.folder() + ": skipped non-tensor entry " + k));
        }
        long unmapped = tensors.size();
        if (unmapped > 0) {
            notes.add(unmapped + " Megatron keys have no HF name in the " + arch.name() + " table (shown as only in "
                    + label + ")");
        }
        List<Check> checks = new ArrayList<>();
        Assembled embedding = null;
        List<List<Entry>> tiedCopies = new ArrayList<>();
        for (Map.Entry<Group, List<Entry>> g : byKey.entrySet()) {
            List<Entry> entries = g.getValue();
            String key = g.getKey().key();
            entries.sort((a, b) -> Integer.compare(a.shard().tpRank(), b.shard().tpRank()));
            for (int r = 0; r < tp; r++) {
                if (r >= entries.size() || entries.get(r).shard().tpRank() != r) {
                    throw new BadInputException(m.dir() + ": " + key + " is missing from the shard of TP rank " + r
                            + " (found on " + entries.stream().map(e -> e.shard().folder()).toList() + ")");
                }
            }
            if (entries.size() > tp) {
                throw new BadInputException(m.dir() + ": " + key + " occurs " + entries.size() + " times for TP=" + tp);
            }
            Rule rule = entries.getFirst().match().rule();
            List<String> hfNames = entries.getFirst().match().hfNames();
            if (key.endsWith("output_layer.weight") && tied) {
                tiedCopies.add(entries);
                continue;
            }
            List<Tensor> shards = entries.stream().map(Entry::tensor).toList();
            List<Source> sources = entries.stream()
                    .map(e -> new Source(label, e.shard().folder(), e.tensor().name(), "")).toList();
            List<Assembled> made = Merge.merge(rule, hfNames, shards, sources, dims, m.dir() + ": " + key);
            for (Assembled a : made) {
                if (tensors.put(a.name(), a) != null) {
                    throw new BadInputException(m.dir() + ": two Megatron keys map to " + a.name()
                            + " (are both TE and local norm keys present?)");
                }
                if (a.name().endsWith("embed_tokens.weight")) {
                    embedding = a;
                }
            }
            if (rule.split() == Split.REPLICATED) {
                for (int r = 1; r < tp; r++) {
                    Assembled ref = Assembled.single(hfNames.getFirst(), Piece.whole(shards.getFirst(), sources.getFirst()));
                    Assembled other = Assembled.single(hfNames.getFirst(), Piece.whole(shards.get(r), sources.get(r)));
                    checks.add(new Check(Check.Kind.REPLICA, key, ref, other,
                            "replicated on every TP rank: " + sources.get(r).file() + " must equal " + sources.getFirst().file()));
                }
            }
        }
        for (List<Entry> copy : tiedCopies) {
            List<Tensor> shards = copy.stream().map(Entry::tensor).toList();
            List<Source> sources = copy.stream().map(e -> new Source(label, e.shard().folder(), e.tensor().name(), "")).toList();
            Assembled out = Merge.merge(copy.getFirst().match().rule(), List.of("output_layer.weight"), shards, sources, dims,
                    m.dir() + ": output_layer.weight").getFirst();
            if (embedding == null) {
                notes.add("tied model: output_layer.weight found but no embedding to check it against");
                continue;
            }
            checks.add(new Check(Check.Kind.TIED_COPY, "output_layer.weight", embedding,
                    new Assembled(embedding.name(), out.shape(), out.pieces(), true),
                    "tied embeddings: the last pipeline stage's output_layer.weight must equal the embedding"));
        }
        return new ModelView(label, "megatron", tensors, checks, notes);
    }

    /** Orders keys with embedded numbers numerically (layers.2 before layers.10). */
    public static int naturalOrder(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            char x = a.charAt(i);
            char y = b.charAt(j);
            if (Character.isDigit(x) && Character.isDigit(y)) {
                int si = i;
                int sj = j;
                while (i < a.length() && Character.isDigit(a.charAt(i))) {
                    i++;
                }
                while (j < b.length() && Character.isDigit(b.charAt(j))) {
                    j++;
                }
                int c = Long.compare(Long.parseLong(a.substring(si, Math.min(i, si + 18))),
                        Long.parseLong(b.substring(sj, Math.min(j, sj + 18))));
                if (c != 0) {
                    return c;
                }
            } else {
                if (x != y) {
                    return Character.compare(x, y);
                }
                i++;
                j++;
            }
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }
}
