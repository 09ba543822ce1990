package dev.ckptdiff.torchdist;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.pickle.PickleLimits;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.Reducer;
import dev.ckptdiff.pickle.Unpickler;
import dev.ckptdiff.tensor.DType;

/**
 * Reads {@code .metadata}, a plain {@code pickle.dump} (protocol 4 or 5) of torch.distributed.checkpoint's
 * {@code Metadata} dataclass, through the symbolic interpreter: nothing is imported or called. Only
 * the DCP metadata classes (and the planner classes Megatron-Core keeps in {@code all_local_plans})
 * may occur; anything else means this is not a DCP index and is refused by name.
 */
public final class DcpMetadataReader {
    private static final Set<String> CLASSES = Set.of(
            "torch.distributed.checkpoint.metadata.Metadata",
            "torch.distributed.checkpoint.metadata.TensorStorageMetadata",
            "torch.distributed.checkpoint.metadata.BytesStorageMetadata",
            "torch.distributed.checkpoint.metadata.ChunkStorageMetadata",
            "torch.distributed.checkpoint.metadata.TensorProperties",
            "torch.distributed.checkpoint.metadata._MEM_FORMAT_ENCODING",
            "torch.distributed.checkpoint.metadata.MetadataIndex",
            "torch.distributed.checkpoint.metadata.StorageMeta",
            "torch.distributed.checkpoint.filesystem._StorageInfo",
            "torch.distributed.checkpoint.planner.SavePlan",
            "torch.distributed.checkpoint.planner.WriteItem",
            "torch.distributed.checkpoint.planner.WriteItemType",
            "torch.distributed.checkpoint.planner.TensorWriteData",
            "torch.distributed.checkpoint.planner.BytesIOWriteData",
            "megatron.core.dist_checkpointing.strategies.torch.MCoreSavePlan",
            "megatron.core.dist_checkpointing.strategies.torch.MCoreMetadata",
            "torch.serialization._get_layout",
            "collections.OrderedDict");
    private static final Set<String> METADATA = Set.of("torch.distributed.checkpoint.metadata.Metadata",
            "megatron.core.dist_checkpointing.strategies.torch.MCoreMetadata");

    /** torch.Size pickles as REDUCE(torch.Size, (tuple,)): read it as the tuple. */
    private static final Reducer SIZES = new Reducer() {
        @Override
        public Py reduce(Py.Global f, Py.Tuple args, long offset) {
            return f.is("torch", "Size") && args.size() == 1 && args.get(0) instanceof Py.Tuple t ? t : null;
        }

        @Override
        public Py persistentLoad(Py id, long offset) {
            return new Py.PersistentId(id);
        }
    };

    private final Path path;

    private DcpMetadataReader(Path path) {
        this.path = path;
    }

    public static DcpMetadata read(Path path) {
        try (MappedFile f = MappedFile.open(path)) {
            Py root = Unpickler.load(f.segment(), path.toString(), SIZES, PickleLimits.DEFAULT);
            return new DcpMetadataReader(path).metadata(root);
        }
    }

    private BadInputException bad(String problem) {
        return BadInputException.in(path, problem);
    }

    private DcpMetadata metadata(Py root) {
        checkClasses(root, new IdentityHashMap<>());
        if (!(root instanceof Py.Instance m) || !METADATA.contains(m.type.qualified())) {
            throw bad("top-level value is a " + describe(root) + ", expected torch.distributed.checkpoint's Metadata");
        }
        Py.Dict state = dict(m.state, "Metadata state");
        Py sdm = state.get("state_dict_metadata");
        if (!(sdm instanceof Py.Dict items)) {
            throw bad("Metadata has no state_dict_metadata dict");
        }
        Map<String, StorageInfo> storage = storage(state.get("storage_data"));
        Map<String, GlobalTensor> tensors = new LinkedHashMap<>();
        Map<String, StorageInfo> bytes = new LinkedHashMap<>();
        for (int i = 0; i < items.size(); i++) {
            if (!(items.keys.get(i) instanceof Py.Str(String key))) {
                throw bad("state_dict_metadata has a key that is not a string: " + describe(items.keys.get(i)));
            }
            Py v = items.values.get(i);
            String type = v instanceof Py.Instance inst ? inst.type.name() : "";
            switch (type) {
                case "TensorStorageMetadata" -> tensors.put(key, tensor(key, dict(((Py.Instance) v).state, key), storage));
                case "BytesStorageMetadata" -> {
                    StorageInfo at = storage.get(indexKey(key, null));
                    if (at == null) {
                        throw bad(key + ": byte item has no entry in storage_data (its file and offset)");
                    }
                    bytes.put(key, at);
                }
                default -> throw bad(key + ": entry is a " + describe(v) + ", expected Tensor- or BytesStorageMetadata");
            }
        }
        List<String> extras = new ArrayList<>();
        for (String optional : List.of("all_local_plans", "mcore_data")) {
            if (state.get(optional) != null && !(state.get(optional) instanceof Py.None)) {
                extras.add(optional);
            }
        }
        String version = state.get("version") instanceof Py.Str(String s) ? s : null;
        return new DcpMetadata(tensors, bytes, version, extras);
    }

    private GlobalTensor tensor(String key, Py.Dict s, Map<String, StorageInfo> storage) {
        long[] size = longs(s.get("size"), key + ".size");
        DType dtype = dtype(key, s.get("properties"));
        if (!(s.get("chunks") instanceof Py.PyList list)) {
            throw bad(key + ": TensorStorageMetadata has no chunk list");
        }
        List<ChunkMeta> chunks = new ArrayList<>();
        for (Py c : list.items) {
            if (!(c instanceof Py.Instance ci) || !ci.type.name().equals("ChunkStorageMetadata")) {
                throw bad(key + ": chunk entry is a " + describe(c) + ", expected ChunkStorageMetadata");
            }
            Py.Dict cs = dict(ci.state, key + " chunk");
            long[] offsets = longs(cs.get("offsets"), key + " chunk offsets");
            long[] sizes = longs(cs.get("sizes"), key + " chunk sizes");
            if (offsets.length != size.length || sizes.length != size.length) {
                throw bad(key + ": chunk at " + dev.ckptdiff.tensor.Shapes.toString(offsets) + " has "
                        + offsets.length + "/" + sizes.length + " dimensions, the tensor " + size.length);
            }
            for (int d = 0; d < size.length; d++) {
                if (offsets[d] > size[d] || sizes[d] > size[d] - offsets[d]) {
                    throw bad(key + ": chunk at " + dev.ckptdiff.tensor.Shapes.toString(offsets) + " of size "
                            + dev.ckptdiff.tensor.Shapes.toString(sizes) + " reaches past the global shape "
                            + dev.ckptdiff.tensor.Shapes.toString(size));
                }
            }
            StorageInfo at = storage.get(indexKey(key, offsets));
            if (at == null) {
                throw bad(key + ": chunk at " + dev.ckptdiff.tensor.Shapes.toString(offsets)
                        + " has no entry in storage_data (its file and offset)");
            }
            chunks.add(new ChunkMeta(offsets, sizes, at));
        }
        return new GlobalTensor(key, dtype, size, List.copyOf(chunks));
    }

    private DType dtype(String key, Py properties) {
        // TensorProperties pickles its state as a tuple: (dtype, layout, requires_grad, memory_format, pin_memory[, ...]).
        Py dt = switch (properties) {
            case Py.Instance p when p.state instanceof Py.Tuple t && t.size() >= 1 -> t.get(0);
            case Py.Instance p when p.state instanceof Py.Dict d -> d.get("dtype");
            case null, default -> null;
        };
        if (!(dt instanceof Py.Global g) || !g.module().equals("torch")) {
            throw bad(key + ": tensor properties hold no torch dtype (" + describe(properties) + ")");
        }
        return DType.fromTorchName(g.name()).orElseThrow(() -> bad(key + ": dtype torch." + g.name()
                + " is not one this reader knows"));
    }

    /** storage_data: MetadataIndex(fqn, offset) -> _StorageInfo. {@code index} is a lookup hint and is ignored. */
    private Map<String, StorageInfo> storage(Py v) {
        if (!(v instanceof Py.Dict d)) {
            throw bad("Metadata has no storage_data dict (the file and offset of every item)");
        }
        Map<String, StorageInfo> out = new LinkedHashMap<>();
        for (int i = 0; i < d.size(); i++) {
            Py.Dict idx = dict(d.keys.get(i) instanceof Py.Instance k ? k.state : null, "storage_data key");
            Py.Dict info = dict(d.values.get(i) instanceof Py.Instance k ? k.state : null, "storage_data value");
            if (!(idx.get("fqn") instanceof Py.Str(String fqn))) {
                throw bad("storage_data key without an fqn");
            }
            long[] offsets = idx.get("offset") instanceof Py.Tuple ? longs(idx.get("offset"), fqn + " offset") : null;
            if (!(info.get("relative_path") instanceof Py.Str(String file)) || file.contains("/") || file.contains("\\")
                    || file.startsWith(".")) {
                throw bad(fqn + ": storage entry names file " + describe(info.get("relative_path"))
                        + ", expected a file name inside the checkpoint folder");
            }
            long offset = info.get("offset") instanceof Py.Int(long o) ? o : -1;
            long length = info.get("length") instanceof Py.Int(long l) ? l : -1;
            if (offset < 0 || length < 0) {
                throw bad(fqn + ": storage entry in " + file + " has offset " + offset + " and length " + length);
            }
            Py transforms = info.get("transform_descriptors");
            if (transforms instanceof Py.PyList t && !t.items.isEmpty()) {
                throw bad(fqn + ": storage entry in " + file + " is transformed (" + describe(t.items.getFirst())
                        + ", e.g. zstd compression), which is not read");
            }
            out.put(indexKey(fqn, offsets), new StorageInfo(file, offset, length));
        }
        return out;
    }

    private static String indexKey(String fqn, long[] offsets) {
        return fqn + (offsets == null ? "" : java.util.Arrays.toString(offsets));
    }

    private Py.Dict dict(Py v, String what) {
        if (v instanceof Py.Dict d) {
            return d;
        }
        throw bad(what + " is a " + describe(v) + ", expected a dataclass state dict");
    }

    private long[] longs(Py v, String what) {
        if (!(v instanceof Py.Tuple t)) {
            throw bad(what + " is a " + describe(v) + ", expected a torch.Size");
        }
        long[] out = new long[t.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.get(i) instanceof Py.Int(long x)) || x < 0) {
                throw bad(what + " holds " + describe(t.get(i)) + ", expected a non-negative integer");
            }
            out[i] = x;
        }
        return out;
    }

    /** Every object in the pickle must be of a DCP metadata class (shared objects are visited once). */
    private void checkClasses(Py v, Map<Py, Boolean> seen) {
        if (seen.put(v, Boolean.TRUE) != null) {
            return;
        }
        switch (v) {
            case Py.Instance i -> {
                if (!CLASSES.contains(i.type.qualified())) {
                    throw bad("refusing .metadata: it holds a " + i.type.qualified()
                            + " object, which is not a torch.distributed.checkpoint metadata class");
                }
                checkClasses(i.args, seen);
                if (i.state != null) {
                    checkClasses(i.state, seen);
                }
            }
            case Py.Tuple t -> t.items().forEach(x -> checkClasses(x, seen));
            case Py.PyList l -> l.items.forEach(x -> checkClasses(x, seen));
            case Py.Dict d -> {
                d.keys.forEach(x -> checkClasses(x, seen));
                d.values.forEach(x -> checkClasses(x, seen));
            }
            default -> {
                // scalars, strings and dtype globals are inert
            }
        }
    }

    private static String describe(Py v) {
        return switch (v) {
            case null -> "missing value";
            case Py.Instance i -> i.type.qualified() + " object";
            case Py.Global g -> "global " + g.qualified();
            case Py.Str(String s) -> "'" + s + "'";
            default -> v.getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT);
        };
    }
}
