package dev.ckptdiff.diff;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Rule;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.megatron.ExpertLayout;
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
        // Thousands of tensors share a few files: each file's path is parsed once.
        Map<String, String> fileNames = new java.util.HashMap<>();
        for (Tensor t : hf.tensors().values()) {
            String file = fileNames.computeIfAbsent(t.origin(),
                    o -> java.nio.file.Path.of(o).getFileName().toString());
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
        return new ModelView(label, "hf", tensors, checks, notes, List.of());
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

        /** A vision tower's attention (one group per head), from config.json's {@code vision_config}. */
        public static Dims vision(JsonNode config) {
            JsonNode v = config == null ? null : config.get("vision_config");
            long heads = v == null ? -1 : v.path("num_heads").asLong(-1);
            long hidden = v == null ? -1 : v.path("hidden_size").asLong(-1);
            return new Dims(heads, heads, heads > 0 && hidden > 0 ? hidden / heads : -1);
        }
    }

    public static ModelView megatron(MegatronCheckpoint m, Architecture arch, JsonNode hfConfig, String label) {
        MegatronArgs args = m.args();
        Dims dims = Dims.of(args, hfConfig);
        Dims visionDims = Dims.vision(hfConfig);
        int tp = m.layout().tp();
        boolean tied = hfConfig != null && hfConfig.size() > 0 ? tied(hfConfig)
                : !args.getBool("untie_embeddings_and_output_weights").orElse(false);
        // Keyed by global Megatron key and stage: a key must be on one stage only (else it is an error below).
        record Group(String key, int stage) {
        }
        // Grouped by hash, then sorted once: shards list their keys in order, so the groups arrive as a few
        // sorted runs that a merge sort joins in near-linear time (a sorted map compared every key ~log n times).
        Map<Group, List<Entry>> byKey = new LinkedHashMap<>();
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
        ExpertLayout experts = m.experts();
        // The folders that must hold a key: by (stage, -1, TP rank), and a routed expert's by (stage, EP rank, ETP rank).
        int etpWidth = Math.min(experts.etp(), tp);
        record Holder(int stage, int epRank, int rank) {
        }
        Map<Holder, List<String>> holders = new java.util.HashMap<>();
        for (RankShard s : m.shards()) {
            holders.computeIfAbsent(new Holder(s.ppRank(), -1, s.tpRank()), k -> new ArrayList<>()).add(s.folder());
            holders.computeIfAbsent(new Holder(s.ppRank(), s.epRank(), s.tpRank() % etpWidth), k -> new ArrayList<>())
                    .add(s.folder());
        }
        List<Map.Entry<Group, List<Entry>>> groups = new ArrayList<>(byKey.entrySet());
        NaturalOrder.sortBy(groups, g -> g.getKey().key(), Comparator.comparingInt(g -> g.getKey().stage()));
        for (Map.Entry<Group, List<Entry>> g : groups) {
            String key = g.getKey().key();
            // A routed expert's key is split over the ETP ranks of its EP rank's folders (ETP rank = TP rank % ETP);
            // every other key over the TP ranks, written by every folder of its TP rank. Further copies are replicas.
            Entry first = g.getValue().getFirst();
            boolean expert = first.match().expert() >= 0;
            int width = expert ? etpWidth : tp;
            int stage = g.getKey().stage();
            int epRank = expert ? first.shard().epRank() : -1;
            List<List<Entry>> sets = ShardCopies.of(g.getValue(), e -> e.shard().tpRank() % width, width,
                    r -> holders.getOrDefault(new Holder(stage, epRank, r), List.of()), e -> e.shard().folder(),
                    m.dir() + ": " + key, expert);
            List<Entry> entries = sets.getFirst();
            Rule rule = entries.getFirst().match().rule();
            List<String> hfNames = entries.getFirst().match().hfNames();
            if (key.endsWith("output_layer.weight") && tied) {
                tiedCopies.add(entries);
                continue;
            }
            List<Assembled> made = Merge.merge(rule, hfNames, tensorsOf(entries), sourcesOf(entries, label),
                    rule.split() == Split.HEAD_QKV ? visionDims : dims, m.dir() + ": " + key);
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
                List<Entry> all = new ArrayList<>();
                for (List<Entry> set : sets) {
                    for (Entry e : set) {
                        if (!holdsSame(all, e)) {
                            all.add(e);
                        }
                    }
                }
                Assembled ref = Assembled.single(hfNames.getFirst(), Piece.whole(all.getFirst().tensor(),
                        sourceOf(all.getFirst(), label)));
                for (Entry e : all.subList(1, all.size())) {
                    Assembled other = Assembled.single(hfNames.getFirst(), Piece.whole(e.tensor(), sourceOf(e, label)));
                    checks.add(new Check(Check.Kind.REPLICA, key, ref, other, "replicated on every rank: "
                            + e.shard().folder() + " must equal " + all.getFirst().shard().folder()));
                }
                continue;
            }
            for (List<Entry> set : sets.subList(1, sets.size())) {
                List<Assembled> copy = Merge.merge(rule, hfNames, tensorsOf(set), sourcesOf(set, label), dims,
                        m.dir() + ": " + key);
                // name only the shards this copy holds of its own; the others are copy 0's
                List<Entry> own = new ArrayList<>();
                for (Entry e : set) {
                    if (!holdsSame(entries, e)) {
                        own.add(e);
                    }
                }
                List<Entry> against = new ArrayList<>();
                for (Entry e : entries) {
                    if (!holdsSame(set, e)) {
                        against.add(e);
                    }
                }
                for (int i = 0; i < made.size(); i++) {
                    checks.add(new Check(Check.Kind.REPLICA, key, made.get(i), copy.get(i), "the same weights in "
                            + folders(own) + " must equal " + folders(against)));
                }
            }
        }
        for (List<Entry> copy : tiedCopies) {
            Assembled out = Merge.merge(copy.getFirst().match().rule(), List.of("output_layer.weight"), tensorsOf(copy),
                    sourcesOf(copy, label), dims,
                    m.dir() + ": output_layer.weight").getFirst();
            if (embedding == null) {
                notes.add("tied model: output_layer.weight found but no embedding to check it against");
                continue;
            }
            checks.add(new Check(Check.Kind.TIED_COPY, "output_layer.weight", embedding,
                    new Assembled(embedding.name(), out.shape(), out.pieces(), true),
                    "tied embeddings: the last pipeline stage's output_layer.weight must equal the embedding"));
        }
        // Layers no shard holds are missing whatever the other copy holds: two copies with the same hole must not compare SAME.
        List<String> problems = m.layers().describeMissing().map(d -> List.of(m.dir() + ": " + d)).orElse(List.of());
        return new ModelView(label, "megatron", tensors, checks, notes, problems);
    }

    private record Entry(RankShard shard, Tensor tensor, Architecture.Match match) {
    }

    /** By identity: an entry's record equality compares whole tensors, and the same entry is what is meant. */
    private static boolean holdsSame(List<Entry> entries, Entry e) {
        for (Entry x : entries) {
            if (x == e) {
                return true;
            }
        }
        return false;
    }

    private static List<Tensor> tensorsOf(List<Entry> entries) {
        if (entries.size() == 1) { // most keys of a large MoE: one expert on one rank
            return List.of(entries.getFirst().tensor());
        }
        List<Tensor> out = new ArrayList<>(entries.size());
        for (Entry e : entries) {
            out.add(e.tensor());
        }
        return out;
    }

    private static Source sourceOf(Entry e, String label) {
        return new Source(label, e.shard().folder(), e.tensor().name(), "");
    }

    private static List<Source> sourcesOf(List<Entry> entries, String label) {
        List<Source> out = new ArrayList<>(entries.size());
        for (Entry e : entries) {
            out.add(sourceOf(e, label));
        }
        return out;
    }

    private static String folders(List<Entry> entries) {
        return String.join(", ", entries.stream().map(e -> e.shard().folder()).toList());
    }
}
