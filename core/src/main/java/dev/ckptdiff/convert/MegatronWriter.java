package dev.ckptdiff.convert;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.ckptdiff.diff.Assembled;
import dev.ckptdiff.diff.Merge;
import dev.ckptdiff.diff.ModelView;
import dev.ckptdiff.diff.Piece;
import dev.ckptdiff.diff.Source;
import dev.ckptdiff.diff.Views;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.OutputBytes;
import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Rule;
import dev.ckptdiff.mapping.Split;
import dev.ckptdiff.mapping.VisionTowers;
import dev.ckptdiff.megatron.ExpertKeys;
import dev.ckptdiff.megatron.LegacyFolders;
import dev.ckptdiff.pickle.PickleWriter;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Tensor;
import dev.ckptdiff.torch.TorchSaveWriter;

/**
 * Writes Megatron legacy shards ({@code mp_rank_*}/model_optim_rng.pt) from a model view under HF
 * names (an HF folder, or another Megatron checkpoint merged): shard shapes follow from the split
 * rules, and each shard is filled through the very piece geometry the diff uses to read them.
 */
public final class MegatronWriter {
    /**
     * The layout to write. {@code te}: Transformer Engine key names (grouped experts); else the local
     * spec's (sequential experts). {@code ep}: expert-parallel folders; {@code etp}: expert tensor
     * parallelism, 0 for Megatron's default (ETP = TP).
     */
    public record Layout(int tp, int pp, boolean te, boolean padVocab, int ep, int etp) {
        public Layout(int tp, int pp, boolean te, boolean padVocab) {
            this(tp, pp, te, padVocab, 1, 0);
        }

        public int expertTp() {
            return etp > 0 ? etp : tp;
        }
    }

    /** {@code expert}: the global expert number of a routed expert's key, else -1. */
    private record Key(String global, Rule rule, int layer, int expert, List<String> hfNames) {
    }

    /** One shard tensor to write: its placeholder (shape only) and where its data comes from. */
    private record ShardTensor(String localKey, Tensor placeholder, List<Fillable> sources) {
    }

    private record Fillable(Assembled from, Piece piece) {
    }

    private MegatronWriter() {
    }

    /** The bytes the shards will take, refused when a shape makes the count overflow. */
    public static long bytes(ModelView view, Layout l) {
        long n = 0;
        for (Map.Entry<String, Assembled> e : view.tensors().entrySet()) {
            Assembled a = e.getValue();
            long b = OutputBytes.of(e.getKey(), a.shape(), a.dtype().size());
            n = OutputBytes.add(n, a.shape().length == 1 ? OutputBytes.of(e.getKey(), new long[]{b, l.tp()}, 1) : b,
                    e.getKey()); // vectors (norms, biases) may be copied to every TP rank
        }
        return OutputBytes.add(n, n / 8, "the output"); // vocabulary padding, a tied copy: a generous margin
    }

    /** {@code vision}: a vision tower's attention geometry (for {@link Split#HEAD_QKV}), unused without one. */
    public static List<Path> write(ModelView view, Architecture arch, ModelFacts facts, Views.Dims vision, Layout l,
                                   Path iterDir) {
        int tp = l.tp();
        int pp = l.pp();
        long layers = facts.layers();
        if (layers % pp != 0) {
            throw new BadInputException("--pp " + pp + ": " + layers + " layers do not divide into " + pp + " equal stages");
        }
        if (facts.heads() % tp != 0 || facts.groups() % tp != 0) {
            throw new BadInputException("--tp " + tp + ": " + facts.heads() + " heads and " + facts.groups()
                    + " query groups must both divide by " + tp);
        }
        if (facts.ffn() % tp != 0 && (!facts.experts().present() || facts.experts().layerFreq().contains(0))) {
            throw new BadInputException("--tp " + tp + ": ffn_hidden_size " + facts.ffn() + " does not divide by " + tp);
        }
        ModelFacts.Experts experts = facts.experts();
        int ep = l.ep();
        int etp = l.expertTp();
        if (!experts.present() && (ep > 1 || l.etp() > 1)) {
            throw new BadInputException("--ep " + ep + " / --etp " + l.etp() + ": the model has no experts to distribute");
        }
        if (experts.present() && experts.count() % ep != 0) {
            throw new BadInputException("--ep " + ep + ": " + experts.count() + " experts do not divide by " + ep);
        }
        if (experts.present() && (experts.ffn() % etp != 0 || etp > tp || tp % etp != 0)) {
            throw new BadInputException("--etp " + etp + ": the expert hidden size " + experts.ffn() + " must divide by"
                    + " ETP, and ETP must divide TP " + tp + " (legacy folders are named by TP rank)");
        }
        int localExperts = experts.present() ? (int) (experts.count() / ep) : 0;
        LegacyFolders folders = experts.present() ? new LegacyFolders(tp, pp, ep, etp, 1) : LegacyFolders.dense(tp, pp, ep, 1);
        long mult = l.padVocab() ? 128L * tp : tp;
        Assembled embed = find(view, "embed_tokens.weight");
        long vocabRows = embed.rows();
        long padded = (vocabRows + mult - 1) / mult * mult;
        if (!l.padVocab() && vocabRows % tp != 0) {
            throw new BadInputException("the vocabulary's " + vocabRows + " rows do not divide by --tp " + tp
                    + "; pass --pad-vocab to pad it as Megatron-LM does");
        }
        Views.Dims dims = new Views.Dims(facts.heads(), facts.groups(), facts.headDim());
        List<Key> keys = keys(view, arch, l, facts);
        long perStage = layers / pp;
        List<Path> written = new ArrayList<>();
        DType dtype = embed.dtype();
        for (int p = 0; p < pp; p++) {
            // Shard tensors of this stage, for every (EP, TP) folder at once: the merge rules need them all.
            List<Map<String, ShardTensor>> ranks = new ArrayList<>();
            for (int r = 0; r < tp * ep; r++) {
                ranks.add(new LinkedHashMap<>());
            }
            for (Key k : keys) {
                if (stageOf(k, perStage, pp) != p) {
                    continue;
                }
                String local = k.layer() < 0 || VisionTowers.isVision(k.global()) ? k.global()
                        : k.global().replace("decoder.layers." + k.layer() + ".",
                        "decoder.layers." + (k.layer() - (long) p * perStage) + ".");
                // A routed expert goes to one EP folder under its local number, split over ETP ranks;
                // everything else is split over TP and repeated in every EP folder.
                boolean expert = k.expert() >= 0;
                int width = expert ? etp : tp;
                if (expert) {
                    local = ExpertKeys.withExpert(local, k.expert() % localExperts);
                }
                List<Assembled> hf = k.hfNames().stream().map(n -> view.tensors().get(n)).toList();
                // Megatron-Core keeps the router (and its expert bias) in float32 whatever the model's dtype.
                DType keyType = k.global().contains(".mlp.router.") ? DType.F32 : dtype;
                List<Tensor> placeholders = new ArrayList<>();
                for (int r = 0; r < width; r++) {
                    placeholders.add(placeholder(local, k.rule().split(), hf, facts, width, padded, keyType));
                }
                List<Source> sources = placeholders.stream().map(t -> new Source("out", "", t.name(), "")).toList();
                List<Assembled> merged = Merge.merge(k.rule(), k.hfNames(), placeholders, sources,
                        k.rule().split() == Split.HEAD_QKV ? vision : dims, local);
                Map<Tensor, List<Fillable>> bySource = new IdentityHashMap<>();
                for (int i = 0; i < merged.size(); i++) {
                    for (Piece piece : merged.get(i).pieces()) {
                        bySource.computeIfAbsent(piece.src(), x -> new ArrayList<>()).add(new Fillable(hf.get(i), piece));
                    }
                }
                List<ShardTensor> shards = new ArrayList<>();
                for (int r = 0; r < width; r++) {
                    Tensor t = placeholders.get(r);
                    List<Fillable> fills = k.rule().split() == Split.REPLICATED
                            ? List.of(new Fillable(hf.getFirst(), Piece.whole(t, sources.get(r))))
                            : bySource.getOrDefault(t, List.of());
                    shards.add(new ShardTensor(local, t, fills));
                }
                for (int e = 0; e < ep; e++) {
                    if (expert && k.expert() / localExperts != e) {
                        continue;
                    }
                    for (int r = 0; r < tp; r++) {
                        Map<String, ShardTensor> folder = ranks.get(e * tp + r);
                        folder.put(local, shards.get(r % width));
                        if (l.te()) {
                            extraStateAfter(folder, local);
                        }
                    }
                }
            }
            for (int f = 0; f < tp * ep; f++) {
                int r = f % tp;
                int e = f / tp;
                if (!folders.written(r, e)) {
                    continue; // with ETP < TP Megatron writes (and loads) only some TP x EP folders
                }
                Path dir = iterDir.resolve(folders.name(new LegacyFolders.Folder(r, p, e)));
                try {
                    // one level at a time: once a stopped run's temporary folder is removed, nothing may re-create it
                    if (!Files.isDirectory(iterDir)) {
                        Files.createDirectory(iterDir);
                    }
                    Files.createDirectory(dir);
                } catch (java.io.IOException ex) {
                    throw new BadInputException(dir + ": cannot be created: " + ex.getMessage());
                }
                Path file = dir.resolve("model_optim_rng.pt");
                writeShard(file, ranks.get(f), args(facts, arch, l, padded, dtype), iterDir.getFileName().toString());
                written.add(file);
            }
        }
        return written;
    }

    /** The pipeline stage a key lives on: the embedding and any vision tower first, layers by number, the rest last. */
    private static int stageOf(Key k, long perStage, int pp) {
        if (VisionTowers.isVision(k.global()) || k.global().endsWith("embedding.word_embeddings.weight")) {
            return 0;
        }
        return k.layer() >= 0 ? (int) (k.layer() / perStage) : pp - 1;
    }

    private static Assembled find(ModelView view, String suffix) {
        return view.tensors().entrySet().stream().filter(e -> e.getKey().endsWith(suffix)).map(Map.Entry::getValue)
                .findFirst().orElseThrow(() -> new BadInputException("the source has no *" + suffix));
    }

    /** The Megatron keys this view becomes: one per rule and layer whose HF tensors all exist. */
    private static List<Key> keys(ModelView view, Architecture arch, Layout l, ModelFacts facts) {
        List<Key> globals = new ArrayList<>();
        List<Key> layerKeys = new ArrayList<>();
        List<Integer> moeLayers = facts.experts().layerFreq();
        for (Rule rule : arch.rules()) {
            boolean teOnly = rule.megatron().contains("layer_norm_weight");
            boolean preMlpNorm = rule.megatron().contains("pre_mlp_layernorm");
            boolean localOnly = rule.megatron().contains("input_layernorm") || preMlpNorm;
            boolean fc1Norm = rule.megatron().contains("mlp.linear_fc1.layer_norm_weight");
            // Sequential experts are the local spec's form, grouped ones Transformer Engine's.
            if (rule.perExpert() && rule.megatron().contains(".local_experts.") == l.te()) {
                continue;
            }
            if ((teOnly && !l.te()) || (localOnly && l.te() && !preMlpNorm)) {
                continue;
            }
            if (!rule.megatron().contains("{L}")) {
                List<String> hf = rule.hf();
                if (rule.megatron().endsWith("output_layer.weight")) {
                    if (facts.tied() && l.pp() > 1) { // the last stage keeps a copy of the tied embedding
                        String embed = view.tensors().keySet().stream().filter(n -> n.endsWith("embed_tokens.weight"))
                                .findFirst().orElseThrow();
                        globals.add(new Key(rule.megatron(), rule, -1, -1, List.of(embed)));
                        continue;
                    }
                    if (facts.tied()) {
                        continue;
                    }
                }
                if (view.tensors().keySet().containsAll(hf)) {
                    globals.add(new Key(rule.megatron(), rule, -1, -1, hf));
                } else if (rule.megatron().endsWith("output_layer.weight")) {
                    throw new BadInputException("untied model without lm_head.weight");
                }
                continue;
            }
            // Vision blocks and deepstack mergers number as many as the source holds, not the language layers.
            boolean vision = VisionTowers.isVision(rule.megatron());
            layers:
            for (int layer = 0; vision || layer < facts.layers(); layer++) {
                // In an MoE layer the norm before the MLP is pre_mlp_layernorm even in the TE spec.
                boolean moe = !vision && layer < moeLayers.size() && moeLayers.get(layer) == 1;
                if (!vision && ((fc1Norm && moe) || (preMlpNorm && l.te() && !moe))) {
                    continue;
                }
                int experts = rule.perExpert() ? (int) facts.experts().count() : 1;
                for (int e = 0; e < experts; e++) {
                    int expert = rule.perExpert() ? e : -1;
                    List<String> hf = ruleHfNames(rule, layer, expert);
                    long present = hf.stream().filter(view.tensors()::containsKey).count();
                    if (vision && present == 0) {
                        break layers;
                    }
                    if (present == hf.size()) {
                        layerKeys.add(new Key(rule.megatron().replace("{L}", Integer.toString(layer))
                                .replace("{E}", Integer.toString(expert)), rule, layer, expert, hf));
                    } else if (present > 0) {
                        throw new BadInputException("layer " + layer + " has only some of " + hf);
                    }
                }
            }
        }
        layerKeys.sort((a, b) -> a.layer() != b.layer() ? Integer.compare(a.layer(), b.layer()) : 0);
        List<Key> out = new ArrayList<>();
        globals.stream().filter(k -> k.global().endsWith("embedding.word_embeddings.weight")).forEach(out::add);
        out.addAll(layerKeys);
        globals.stream().filter(k -> !k.global().endsWith("embedding.word_embeddings.weight")).forEach(out::add);
        for (String n : view.tensors().keySet()) {
            if (out.stream().noneMatch(k -> k.hfNames().contains(n)) && !(facts.tied() && n.equals("lm_head.weight"))) {
                throw new BadInputException("tensor " + n + " has no Megatron name in the " + arch.name() + " table");
            }
        }
        return out;
    }

    private static List<String> ruleHfNames(Rule rule, int layer, int expert) {
        return rule.hf().stream().map(h -> h.replace("{L}", Integer.toString(layer))
                .replace("{E}", Integer.toString(expert))).toList();
    }

    private static Tensor placeholder(String key, Split split, List<Assembled> hf, ModelFacts f, int tp, long padded,
                                      DType dtype) {
        long[] s = hf.getFirst().shape().clone();
        switch (split) {
            case VOCAB -> s[0] = padded / tp;
            case COLUMN, HEAD_QKV -> s[0] = s[0] / tp;
            case ROW -> s[1] = s[1] / tp;
            case QKV -> s[0] = (f.heads() + 2 * f.groups()) * f.headDim() / tp;
            case GATE_UP -> s[0] = 2 * (s[0] / tp);
            case REPLICATED -> {
            }
        }
        return new Tensor(key, dtype, s, Tensor.rowMajorStrides(s), MemorySegment.NULL, 0, "");
    }

    /** Transformer Engine modules carry an {@code _extra_state}; None loads as "no FP8 state". */
    private static void extraStateAfter(Map<String, ShardTensor> m, String key) {
        if (ExpertKeys.grouped(key)) { // one per grouped linear, not one per expert
            m.putIfAbsent(key.substring(0, key.lastIndexOf('.')) + "._extra_state", null);
            return;
        }
        for (String module : List.of("self_attention.linear_qkv", "self_attention.linear_proj", "mlp.linear_fc1",
                "mlp.linear_fc2")) {
            if (key.endsWith(module + ".weight")) {
                m.put(key.replace(".weight", "._extra_state"), null);
            }
        }
    }

    private static Map<String, Object> args(ModelFacts f, Architecture arch, Layout l, long padded, DType dtype) {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("tensor_model_parallel_size", l.tp());
        a.put("pipeline_model_parallel_size", l.pp());
        a.put("virtual_pipeline_model_parallel_size", null);
        a.put("expert_model_parallel_size", l.ep());
        a.put("num_layers", f.layers());
        a.put("hidden_size", f.hidden());
        a.put("ffn_hidden_size", f.ffn());
        a.put("num_attention_heads", f.heads());
        a.put("group_query_attention", f.groups() != f.heads());
        a.put("num_query_groups", f.groups());
        a.put("kv_channels", f.headDim());
        a.put("padded_vocab_size", padded);
        a.put("vocab_size", f.vocab());
        a.put("make_vocab_size_divisible_by", l.padVocab() ? 128 : 1);
        a.put("add_qkv_bias", f.qkvBias());
        a.put("add_bias_linear", f.outBias());
        a.put("qk_layernorm", f.qkNorm());
        a.put("untie_embeddings_and_output_weights", !f.tied());
        a.put("transformer_impl", l.te() ? "transformer_engine" : "local");
        a.put("params_dtype", new PickleWriter.Global("torch", dtype.torchName()));
        a.put("bf16", dtype == DType.BF16);
        a.put("fp16", dtype == DType.F16);
        a.put("normalization", "RMSNorm");
        a.put("norm_epsilon", f.normEps());
        a.put("swiglu", true);
        a.put("position_embedding_type", "rope");
        a.put("rotary_base", f.ropeTheta());
        a.put("max_position_embeddings", f.maxPositions());
        a.put("ckpt_format", "torch");
        ModelFacts.Experts x = f.experts();
        if (x.present()) {
            a.put("expert_tensor_parallel_size", l.expertTp());
            a.put("num_experts", x.count());
            a.put("moe_ffn_hidden_size", x.ffn());
            a.put("moe_router_topk", x.topk());
            a.put("moe_grouped_gemm", l.te());
            a.put("moe_layer_freq", new ArrayList<Object>(x.layerFreq()));
            a.put("moe_router_pre_softmax", !x.normTopk());
            a.put("moe_router_load_balancing_type", "aux_loss");
        }
        return a;
    }

    private static void writeShard(Path file, Map<String, ShardTensor> tensors, Map<String, Object> args, String iteration) {
        Map<String, Object> model = new LinkedHashMap<>();
        List<TorchSaveWriter.Storage> storages = new ArrayList<>();
        for (Map.Entry<String, ShardTensor> e : tensors.entrySet()) {
            ShardTensor st = e.getValue();
            if (st == null) {
                model.put(e.getKey(), null);
                continue;
            }
            String key = Integer.toString(storages.size());
            Tensor t = st.placeholder();
            model.put(e.getKey(), new PickleWriter.StorageTensor(key, t.dtype().torchStorageClass(), t.numel(), t.shape()));
            storages.add(new TorchSaveWriter.Storage(key, OutputBytes.of(e.getKey(), t.shape(), t.dtype().size()), st));
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("args", new PickleWriter.Namespace(args));
        root.put("checkpoint_version", 3.0);
        root.put("iteration", iteration.equals("release") ? 0L : Long.parseLong(iteration.substring("iter_".length())));
        root.put("model", new PickleWriter.Ordered(model));
        root.put("num_floating_point_operations_so_far", 0L);
        TorchSaveWriter.write(file, PickleWriter.dump(root), storages, (storage, sink) -> {
            ShardTensor st = (ShardTensor) storage.tag();
            Tensor t = st.placeholder();
            List<Fill.Region> regions = st.sources().stream().map(f -> new Fill.Region(f.from(), f.piece().hfRow0(),
                    f.piece().hfCol0(), f.piece().rows(), f.piece().cols(), f.piece().srcRow0(), f.piece().srcCol0())).toList();
            Fill.stream(regions, Piece.rowsOf(t.shape()), Piece.colsOf(t.shape()), t.dtype(), sink);
        });
    }
}
