package dev.ckptdiff.torchdist;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.JsonFiles;
import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;
import dev.ckptdiff.tensor.Tensor;
import dev.ckptdiff.torch.TorchFile;
import dev.ckptdiff.torch.TorchTensor;

/**
 * A Megatron-Core {@code torch_dist} iteration folder: {@code metadata.json} (backend checked), the
 * DCP index {@code .metadata}, and its {@code .distcp} files, each mapped once. Every tensor chunk is
 * a complete torch.save archive inside a {@code .distcp} file, read in place as a view; the chunks of
 * every key must cover its global shape exactly once. The common state ({@code common.pt}, or the
 * {@code common_state} byte item of current Megatron-Core) gives args and iteration.
 */
public final class TorchDistCheckpoint implements AutoCloseable {
    public static final String METADATA_JSON = "metadata.json";
    public static final String INDEX = ".metadata";
    private static final String COMMON_ITEM = "common_state/";

    /** One chunk of a key with its tensor, a view of the archive inside its {@code .distcp} file. */
    public record Chunk(GlobalTensor of, ChunkMeta meta, Tensor tensor, TorchFile archive) {
        /** For reports: the file, its byte range, and the chunk as a slice of the global key. */
        public String describe() {
            return meta.where().describe() + " " + of.key() + meta.slice();
        }
    }

    private final Path dir;
    private final String backend;
    private final long backendVersion;
    private final DcpMetadata index;
    private final Map<String, MappedFile> files;
    private final List<TorchFile> archives;
    private final Map<String, List<Chunk>> chunks;
    private final MegatronArgs args;
    private final Py.Dict common;
    private final String commonSource;

    private TorchDistCheckpoint(Path dir, String backend, long backendVersion, DcpMetadata index,
                                Map<String, MappedFile> files, List<TorchFile> archives, Map<String, List<Chunk>> chunks,
                                Py.Dict common, String commonSource) {
        this.dir = dir;
        this.backend = backend;
        this.backendVersion = backendVersion;
        this.index = index;
        this.files = files;
        this.archives = archives;
        this.chunks = chunks;
        this.common = common;
        this.commonSource = commonSource;
        Py a = common == null ? null : common.get("args");
        this.args = a == null ? MegatronArgs.none(dir) : MegatronArgs.checked(a, dir.resolve(commonSource));
    }

    /** True when {@code dir} is a distributed checkpoint folder (Megatron-Core's own test: metadata.json, or a DCP index). */
    public static boolean isTorchDist(Path dir) {
        return Files.isDirectory(dir) && (Files.isRegularFile(dir.resolve(METADATA_JSON))
                || Files.isRegularFile(dir.resolve(INDEX)));
    }

    public static TorchDistCheckpoint open(Path dir) {
        Path json = dir.resolve(METADATA_JSON);
        if (!Files.isRegularFile(json)) {
            throw BadInputException.in(dir, "has " + INDEX + " but no " + METADATA_JSON + ": Megatron-Core writes it last,"
                    + " so the save did not finish (or this is a plain PyTorch DCP checkpoint, which is not read)");
        }
        JsonNode config = JsonFiles.read(json, JsonFiles.MAX_CONFIG, METADATA_JSON);
        String backend = config.path("sharded_backend").asText("");
        long version = config.path("sharded_backend_version").asLong(-1);
        if (!backend.equals("torch_dist")) {
            throw BadInputException.in(json, "sharded_backend is '" + backend + "', expected 'torch_dist'"
                    + (backend.equals("zarr") ? " (zarr checkpoints are not read)" : ""));
        }
        if (version != 1) {
            throw BadInputException.in(json, "sharded_backend_version is " + config.path("sharded_backend_version")
                    + ", expected 1");
        }
        Path indexPath = dir.resolve(INDEX);
        if (!Files.isRegularFile(indexPath)) {
            throw BadInputException.in(dir, "has no " + INDEX + " (the chunk index of a torch_dist checkpoint)");
        }
        DcpMetadata index = DcpMetadataReader.read(indexPath);
        Map<String, MappedFile> files = new LinkedHashMap<>();
        List<TorchFile> archives = new ArrayList<>();
        try {
            record Item(GlobalTensor g, ChunkMeta c) {
            }
            List<Item> items = new ArrayList<>();
            for (GlobalTensor g : index.tensors().values()) {
                Coverage.check(indexPath, g);
                for (ChunkMeta c : g.chunks()) {
                    mapped(dir, g.key() + c.slice(), c.where(), files);
                    items.add(new Item(g, c));
                }
            }
            // Chunk archives are independent: parsing their zips and pickles in parallel hides latency.
            Object[] read = new Object[items.size()];
            java.util.stream.IntStream.range(0, items.size()).parallel().forEach(i -> {
                try {
                    read[i] = readChunk(dir, items.get(i).g(), items.get(i).c(), files);
                } catch (RuntimeException e) {
                    read[i] = e;
                }
            });
            Map<String, List<Chunk>> chunks = new LinkedHashMap<>();
            RuntimeException failure = null;
            for (int i = 0; i < read.length; i++) {
                if (read[i] instanceof Chunk c) {
                    archives.add(c.archive());
                    chunks.computeIfAbsent(c.of().key(), k -> new ArrayList<>()).add(c);
                } else if (failure == null) {
                    failure = (RuntimeException) read[i];
                }
            }
            if (failure != null) {
                throw failure;
            }
            chunks.replaceAll((k, v) -> List.copyOf(v));
            Py.Dict common = null;
            String commonSource = null;
            Path commonPt = dir.resolve("common.pt");
            if (Files.isRegularFile(commonPt)) {
                TorchFile tf = TorchFile.open(commonPt);
                archives.add(tf);
                common = tf.root() instanceof Py.Dict d ? d : null;
                commonSource = "common.pt";
            } else {
                for (Map.Entry<String, StorageInfo> e : index.byteItems().entrySet()) {
                    if (e.getKey().startsWith(COMMON_ITEM)) {
                        TorchFile tf = archive(dir, e.getKey(), e.getValue(), files);
                        archives.add(tf);
                        // Megatron-Core saves the common dict as torch.save([dict]) (a one-element list).
                        if (tf.root() instanceof Py.PyList l && l.items.size() == 1 && l.items.getFirst() instanceof Py.Dict d) {
                            common = d;
                        } else {
                            throw BadInputException.in(dir.resolve(e.getValue().file()), e.getKey() + " at "
                                    + e.getValue().describe() + " is not a torch.save of a one-element list holding a dict");
                        }
                        commonSource = e.getKey() + " in " + e.getValue().file();
                    }
                }
            }
            return new TorchDistCheckpoint(dir, backend, version, index, files, archives, chunks, common, commonSource);
        } catch (RuntimeException e) {
            archives.forEach(TorchFile::close);
            files.values().forEach(MappedFile::close);
            throw e;
        }
    }

    private static Chunk readChunk(Path dir, GlobalTensor g, ChunkMeta c, Map<String, MappedFile> files) {
        String what = g.key() + c.slice();
        TorchFile tf = archive(dir, what, c.where(), files);
        Path file = dir.resolve(c.where().file());
        if (!(tf.root() instanceof Py.Domain d) || !(d.value() instanceof TorchTensor t)) {
            tf.close();
            throw BadInputException.in(file, "chunk " + what + " at " + c.where().describe() + " holds no tensor");
        }
        if (t.dtype() != g.dtype() || !Arrays.equals(t.shape(), c.sizes())) {
            tf.close();
            throw BadInputException.in(file, "chunk " + what + " at " + c.where().describe() + " holds a " + t.dtype()
                    + " tensor of shape " + dev.ckptdiff.tensor.Shapes.toString(t.shape()) + ", the index says "
                    + g.dtype() + " " + dev.ckptdiff.tensor.Shapes.toString(c.sizes()));
        }
        return new Chunk(g, c, t.named(g.key(), c.where().file()), tf);
    }

    /** The torch.save archive at an item's place, read in place: a window of the mapped file. */
    private static TorchFile archive(Path dir, String what, StorageInfo at, Map<String, MappedFile> files) {
        Path path = dir.resolve(at.file());
        MappedFile f = mapped(dir, what, at, files);
        try {
            return TorchFile.of(f.window(at.offset(), at.length(), what));
        } catch (BadInputException e) {
            String inner = e.getMessage().startsWith(path + ": ") ? e.getMessage().substring(path.toString().length() + 2)
                    : e.getMessage();
            throw BadInputException.in(path, what + " at " + at.describe() + " is not a valid torch.save archive: " + inner);
        }
    }

    /** The item's file, mapped on first use (single-threaded), after checking the item lies inside it. */
    private static MappedFile mapped(Path dir, String what, StorageInfo at, Map<String, MappedFile> files) {
        Path path = dir.resolve(at.file());
        MappedFile f = files.get(at.file());
        if (f == null) {
            if (!Files.isRegularFile(path)) {
                throw BadInputException.in(path, "is missing: the index places " + what + " in it");
            }
            f = MappedFile.open(path);
            files.put(at.file(), f);
        }
        if (at.offset() > f.size() || at.length() > f.size() - at.offset()) {
            throw BadInputException.in(path, what + " lies at " + at.describe() + " but the file has " + f.size()
                    + " bytes (truncated?)");
        }
        return f;
    }

    public Path dir() {
        return dir;
    }

    public String iteration() {
        return dir.getFileName() == null ? "?" : dir.getFileName().toString();
    }

    public String backend() {
        return backend;
    }

    public long backendVersion() {
        return backendVersion;
    }

    public DcpMetadata index() {
        return index;
    }

    /** Chunks per tensor key, in index order. */
    public Map<String, List<Chunk>> chunks() {
        return chunks;
    }

    /** The {@code .distcp} files the index names, in first-use order. */
    public List<String> files() {
        return List.copyOf(files.keySet());
    }

    public MegatronArgs args() {
        return args;
    }

    /** The common state dict (args, iteration, ...), or empty when the checkpoint has none. */
    public Optional<Py.Dict> common() {
        return Optional.ofNullable(common);
    }

    /** Where the common state came from: {@code common.pt} or the byte item's key and file. */
    public Optional<String> commonSource() {
        return Optional.ofNullable(commonSource);
    }

    public Optional<Long> savedIteration() {
        return common == null || common.get("iteration") == null ? Optional.empty() : PyValues.asLong(common.get("iteration"));
    }

    /** The leading axis of the stacked layer keys (every stacked key must agree), else args.num_layers. */
    public int numLayers() {
        long n = -1;
        for (GlobalTensor g : index.tensors().values()) {
            if (TorchDistViews.stacked(g.key()) && g.shape().length > 0) {
                if (n >= 0 && n != g.shape()[0]) {
                    throw BadInputException.in(dir.resolve(INDEX), g.key() + " stacks " + g.shape()[0]
                            + " layers, other stacked keys " + n);
                }
                n = g.shape()[0];
            }
        }
        return (int) (n >= 0 ? n : args.getLong("num_layers", 0));
    }

    /** Byte items that are Transformer Engine's {@code _extra_state} (not weights). */
    public long extraStates() {
        return index.byteItems().keySet().stream().filter(k -> k.contains("._extra_state/")).count();
    }

    @Override
    public void close() {
        archives.forEach(TorchFile::close);
        files.values().forEach(MappedFile::close);
    }
}
