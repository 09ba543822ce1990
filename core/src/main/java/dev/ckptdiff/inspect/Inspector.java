package dev.ckptdiff.inspect;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.Printable;
import dev.ckptdiff.locate.Copy;
import dev.ckptdiff.locate.Locator;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.megatron.RankShard;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyTree;
import dev.ckptdiff.tensor.Tensor;
import dev.ckptdiff.tensor.TensorDigest;
import dev.ckptdiff.torch.TorchFile;
import dev.ckptdiff.torch.TorchStorage;
import dev.ckptdiff.torch.TorchTensor;
import dev.ckptdiff.torchdist.GlobalTensor;
import dev.ckptdiff.torchdist.TorchDistCheckpoint;
import dev.ckptdiff.pickle.PyValues;
import dev.ckptdiff.tensor.Shapes;

/** Builds an {@link Inspection} from headers and pickles only: no tensor data is read. */
public final class Inspector {
    /** The args that decide how shards merge and map; shown for every Megatron copy. */
    public static final List<String> KEY_ARGS = List.of("tensor_model_parallel_size", "pipeline_model_parallel_size",
            "virtual_pipeline_model_parallel_size", "expert_model_parallel_size", "num_layers", "hidden_size",
            "ffn_hidden_size", "num_attention_heads", "num_query_groups", "kv_channels", "padded_vocab_size",
            "add_qkv_bias", "qk_layernorm", "untie_embeddings_and_output_weights", "transformer_impl", "params_dtype");

    private static final PyTree TREE = new PyTree(12, 40, Inspector::describeDomain);

    private Inspector() {
    }

    public static Inspection inspect(Path input, boolean withTree, boolean digests) {
        return inspect(input, withTree, digests, false);
    }

    /** {@code chunks}: for torch_dist checkpoints, also list every chunk with its file and offset. */
    public static Inspection inspect(Path input, boolean withTree, boolean digests, boolean chunks) {
        List<Inspection.CopyInfo> copies = new ArrayList<>();
        for (Locator.Role role : Locator.roles(input)) {
            for (Copy c : role.copies()) {
                copies.add(c.kind() == Copy.Kind.HF ? hf(role.name(), c.path(), digests)
                        : TorchDistCheckpoint.isTorchDist(c.path()) ? torchDist(role.name(), c.path(), withTree, digests, chunks)
                        : Files.isRegularFile(c.path()) && !isMegatronShard(c.path())
                        ? torchFile(role.name(), c.path(), withTree, digests) : megatron(role.name(), c.path(), withTree, digests));
            }
        }
        return new Inspection(input, copies);
    }

    private static boolean isMegatronShard(Path file) {
        return file.getFileName().toString().equals(MegatronCheckpoint.FILE);
    }

    private static Inspection.CopyInfo hf(String role, Path path, boolean digests) {
        try (HfCheckpoint hf = HfCheckpoint.open(path)) {
            Map<String, String> facts = new LinkedHashMap<>();
            JsonNode cfg = hf.config();
            if (cfg.has("architectures")) {
                facts.put("architecture", cfg.get("architectures").path(0).asText());
            }
            if (cfg.has("model_type")) {
                facts.put("model_type", cfg.get("model_type").asText());
            }
            facts.put("files", Integer.toString(hf.files().size()));
            List<Inspection.TensorRow> rows = new ArrayList<>();
            long total = 0;
            Map<String, Long> dtypes = new TreeMap<>();
            for (Tensor t : hf.tensors().values()) {
                rows.add(new Inspection.TensorRow(t.name(), t.dtype().name(), t.shape(), t.byteSize(),
                        Path.of(t.origin()).getFileName().toString(), t.name(), "", digests ? TensorDigest.sha256(t) : null));
                total += t.byteSize();
                dtypes.merge(t.dtype().name(), t.numel(), Long::sum);
            }
            facts.put("tensors", Integer.toString(rows.size()));
            facts.put("parameters", Long.toString(dtypes.values().stream().mapToLong(Long::longValue).sum()));
            facts.put("bytes", Long.toString(total));
            facts.put("dtypes", dtypes.keySet().toString());
            return new Inspection.CopyInfo("hf", role, path, facts, rows, List.of(), List.of(), null);
        }
    }

    private static Inspection.CopyInfo megatron(String role, Path path, boolean withTree, boolean digests) {
        try (MegatronCheckpoint m = MegatronCheckpoint.open(path)) {
            Map<String, String> facts = new LinkedHashMap<>();
            facts.put("iteration", m.iteration());
            m.checkpointVersion().ifPresent(v -> facts.put("checkpoint_version", v));
            facts.put("layout", m.layout().describe());
            facts.put("shards", Integer.toString(m.shards().size()));
            facts.put("layers", Long.toString(m.numLayers()));
            for (String a : KEY_ARGS) {
                var v = PyValues.find(m.args().value(), a);
                v.ifPresent(py -> facts.put("args." + a, TREE.line(py)));
            }
            List<Inspection.TensorRow> rows = new ArrayList<>();
            List<String> notes = new ArrayList<>();
            m.layers().describeMissing().ifPresent(notes::add);
            long total = 0;
            for (RankShard s : m.shards()) {
                for (int v = 0; v < s.chunks().size(); v++) {
                    for (Tensor t : s.chunks().get(v).values()) {
                        rows.add(new Inspection.TensorRow(m.globalKey(s, v, t.name()), t.dtype().name(), t.shape(),
                                t.byteSize(), s.folder(), t.name(), s.chunks().size() > 1 ? "model" + v : "model",
                                digests ? TensorDigest.sha256(t) : null));
                        total += t.byteSize();
                    }
                }
                s.skipped().forEach(k -> notes.add(s.folder() + ": non-tensor model entry " + k));
                notes.addAll(s.file().duplicateKeyWarnings());
                if (s.extraStates() > 0) {
                    notes.add(s.folder() + ": " + s.extraStates() + " _extra_state entries (Transformer Engine"
                            + " metadata, not weights) not listed; --tree shows them");
                }
            }
            facts.put("tensors", Integer.toString(rows.size()));
            facts.put("bytes", Long.toString(total));
            TorchFile first = m.shards().getFirst().file();
            return new Inspection.CopyInfo("megatron", role, m.dir(), facts, rows, notes,
                    withTree ? TREE.lines(first.root()) : List.of(), withTree ? TREE.json(first.root()) : null);
        }
    }

    private static Inspection.CopyInfo torchDist(String role, Path path, boolean withTree, boolean digests,
                                                 boolean listChunks) {
        try (TorchDistCheckpoint d = TorchDistCheckpoint.open(path)) {
            Map<String, String> facts = new LinkedHashMap<>();
            facts.put("format", "torch_dist (Megatron-Core distributed checkpoint)");
            facts.put("backend", d.backend() + " version " + d.backendVersion());
            if (d.index().version() != null) {
                facts.put("dcp_version", d.index().version());
            }
            facts.put("iteration", d.savedIteration().map(String::valueOf).orElse(d.iteration()));
            d.common().map(c -> c.get("checkpoint_version")).ifPresent(v -> facts.put("checkpoint_version", TREE.lines(v).getFirst()));
            facts.put("common_state", d.commonSource().orElse("none"));
            facts.put("files", d.files().size() + " .distcp " + d.files());
            int chunkCount = d.chunks().values().stream().mapToInt(List::size).sum();
            facts.put("chunks", Integer.toString(chunkCount));
            facts.put("byte_items", Integer.toString(d.index().byteItems().size()));
            if (!d.index().extras().isEmpty()) {
                facts.put("megatron_extras", String.join(", ", d.index().extras()));
            }
            for (String a : KEY_ARGS) {
                PyValues.find(d.args().value(), a).ifPresent(py -> facts.put("args." + a, TREE.lines(py).getFirst()));
            }
            List<Inspection.TensorRow> rows = new ArrayList<>();
            long total = 0;
            long params = 0;
            for (Map.Entry<String, List<TorchDistCheckpoint.Chunk>> e : d.chunks().entrySet()) {
                List<TorchDistCheckpoint.Chunk> cs = e.getValue();
                GlobalTensor g = cs.isEmpty() ? d.index().tensors().get(e.getKey()) : cs.getFirst().of();
                long numel = Shapes.numel(g.shape());
                rows.add(new Inspection.TensorRow(g.key(), g.dtype().name(), g.shape(), numel * g.dtype().size(),
                        cs.size() + (cs.size() == 1 ? " chunk" : " chunks"), g.key(), "", null));
                if (listChunks) {
                    for (TorchDistCheckpoint.Chunk c : cs) {
                        rows.add(new Inspection.TensorRow(g.key() + c.meta().slice(), g.dtype().name(), c.meta().sizes(),
                                c.tensor().byteSize(), c.meta().where().file() + " @" + c.meta().where().offset() + " +"
                                + c.meta().where().length(), g.key(), "chunk", digests ? TensorDigest.sha256(c.tensor()) : null));
                    }
                }
                total += numel * g.dtype().size();
                params += numel;
            }
            facts.put("tensors", Integer.toString(d.chunks().size()));
            facts.put("parameters", Long.toString(params));
            facts.put("bytes", Long.toString(total));
            List<String> notes = new ArrayList<>();
            if (d.extraStates() > 0) {
                notes.add(d.extraStates() + " _extra_state byte items (Transformer Engine metadata, not weights) not listed");
            }
            Py common = d.common().orElse(null);
            return new Inspection.CopyInfo("torch_dist", role, d.dir(), facts, rows, notes,
                    withTree && common != null ? TREE.lines(common) : List.of(),
                    withTree && common != null ? TREE.json(common) : null);
        }
    }

    private static Inspection.CopyInfo torchFile(String role, Path path, boolean withTree, boolean digests) {
        try (TorchFile tf = TorchFile.open(path)) {
            Map<String, String> facts = new LinkedHashMap<>();
            facts.put("archive", tf.prefix().replaceAll("/$", ""));
            List<Inspection.TensorRow> rows = new ArrayList<>();
            for (Map.Entry<String, TorchTensor> e : tensorsIn(tf.root()).entrySet()) {
                TorchTensor t = e.getValue();
                // Listing needs no data: an expanded view is shown by its logical size and marked as such.
                String layout = t.expanded() ? " expanded" : t.numel() <= 1
                        || java.util.Arrays.equals(Tensor.rowMajorStrides(t.shape()), t.stride()) ? "" : " strided";
                rows.add(new Inspection.TensorRow(e.getKey(), t.dtype().name(), t.shape(), t.numel() * t.dtype().size(),
                        "storage " + t.storage().key() + (t.storageOffset() > 0 ? " +" + t.storageOffset() : "")
                                + layout, e.getKey(), "",
                        digests ? TensorDigest.sha256(t.named(e.getKey(), path.toString())) : null));
            }
            facts.put("tensors", Integer.toString(rows.size()));
            List<String> notes = tf.duplicateKeyWarnings();
            return new Inspection.CopyInfo("torch", role, path, facts, rows, notes,
                    withTree ? TREE.lines(tf.root()) : List.of(), withTree ? TREE.json(tf.root()) : null);
        }
    }

    /** Every tensor in a pickle tree, under its dotted path; depth- and cycle-bounded. */
    public static Map<String, TorchTensor> tensorsIn(Py root) {
        Map<String, TorchTensor> out = new LinkedHashMap<>();
        record Item(String path, Py value, int depth) {
        }
        Deque<Item> stack = new ArrayDeque<>();
        IdentityHashMap<Py, Boolean> seen = new IdentityHashMap<>();
        stack.push(new Item("", root, 0));
        while (!stack.isEmpty()) {
            Item it = stack.pop();
            if (it.value() instanceof Py.Domain d && d.value() instanceof TorchTensor t) {
                out.putIfAbsent(it.path(), t);
                continue;
            }
            if (it.depth() > 64 || seen.put(it.value(), true) != null) {
                continue;
            }
            List<Item> kids = new ArrayList<>();
            String pre = it.path().isEmpty() ? "" : it.path() + ".";
            switch (it.value()) {
                case Py.Dict d -> {
                    for (int i = 0; i < d.size(); i++) {
                        Py k = d.keys.get(i);
                        String name = k instanceof Py.Str(String s) ? s : k instanceof Py.Int(long n) ? Long.toString(n) : "?";
                        kids.add(new Item(pre + name, d.values.get(i), it.depth() + 1));
                    }
                }
                case Py.PyList l -> {
                    for (int i = 0; i < l.items.size(); i++) {
                        kids.add(new Item(pre + i, l.items.get(i), it.depth() + 1));
                    }
                }
                case Py.Tuple t -> {
                    for (int i = 0; i < t.size(); i++) {
                        kids.add(new Item(pre + i, t.get(i), it.depth() + 1));
                    }
                }
                case Py.Instance i when i.state != null -> kids.add(new Item(it.path(), i.state, it.depth() + 1));
                default -> {
                }
            }
            for (int i = kids.size() - 1; i >= 0; i--) {
                stack.push(kids.get(i));
            }
        }
        return out;
    }

    static String describeDomain(Object o) {
        return switch (o) {
            case TorchTensor t -> "tensor " + t.dtype() + Shapes.toString(t.shape())
                    + " (storage " + Printable.escape(t.storage().key()) + ")";
            case TorchStorage s -> "storage " + Printable.escape(s.key()) + " " + s.dtype() + "[" + s.numel() + "]";
            default -> o.toString();
        };
    }
}
