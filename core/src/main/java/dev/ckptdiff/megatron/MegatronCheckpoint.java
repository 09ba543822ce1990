package dev.ckptdiff.megatron;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.mapping.VisionTowers;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;
import dev.ckptdiff.tensor.Tensor;
import dev.ckptdiff.torch.TorchFile;

/**
 * A Megatron legacy checkpoint iteration: its {@code mp_rank_*} shards, the parallel layout they
 * form (from the folder names, checked against {@code args}), and the global layer number of every
 * local layer key.
 */
public final class MegatronCheckpoint implements AutoCloseable {
    private static final Pattern RANK_DIR = Pattern.compile("mp_rank_(\\d{2})(?:_(\\d{3}))?(?:_(\\d{3}))?");
    public static final String FILE = "model_optim_rng.pt";

    private final Path dir;
    private final String iteration;
    private final List<RankShard> shards;
    private final ParallelLayout layout;
    private final MegatronArgs args;
    private final Py checkpointVersion;
    private final int[][] layerOffsets; // [pp][chunk] -> first global layer
    private final int numLayers;

    private MegatronCheckpoint(Path dir, String iteration, List<RankShard> shards, ParallelLayout layout,
                               MegatronArgs args, Py checkpointVersion, int[][] layerOffsets, int numLayers) {
        this.dir = dir;
        this.iteration = iteration;
        this.shards = shards;
        this.layout = layout;
        this.args = args;
        this.checkpointVersion = checkpointVersion;
        this.layerOffsets = layerOffsets;
        this.numLayers = numLayers;
    }

    /** True when {@code dir} is a Megatron root (with the tracker file) or an iteration folder. */
    public static boolean isMegatron(Path dir) {
        return Files.isRegularFile(dir.resolve("latest_checkpointed_iteration.txt")) || !rankDirs(dir).isEmpty();
    }

    /** True when {@code dir} holds {@code mp_rank_*} folders itself. */
    public static boolean isIterationDir(Path dir) {
        return !rankDirs(dir).isEmpty();
    }

    /** The iteration folder a root's tracker file names, or {@code dir} itself. */
    public static Path iterationDir(Path dir) {
        Path tracker = dir.resolve("latest_checkpointed_iteration.txt");
        if (!rankDirs(dir).isEmpty() || !Files.isRegularFile(tracker)) {
            return dir;
        }
        String text;
        try {
            text = Files.readString(tracker).strip();
        } catch (IOException e) {
            throw BadInputException.in(tracker, "cannot be read: " + e.getMessage());
        }
        if (text.equals("release")) {
            return dir.resolve("release");
        }
        if (!text.matches("\\d{1,12}")) {
            throw BadInputException.in(tracker, "holds '" + text + "', expected an iteration number or 'release'");
        }
        Path it = dir.resolve(String.format("iter_%07d", Long.parseLong(text)));
        if (!Files.isDirectory(it)) {
            throw BadInputException.in(tracker, "names iteration " + text + " but " + it.getFileName()
                    + " does not exist");
        }
        return it;
    }

    private static List<Path> rankDirs(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> RANK_DIR.matcher(p.getFileName().toString()).matches() && Files.isDirectory(p))
                    .sorted().toList();
        } catch (IOException e) {
            throw BadInputException.in(dir, "cannot be listed: " + e.getMessage());
        }
    }

    /** Opens an iteration folder, a root with {@code latest_checkpointed_iteration.txt}, or one shard file. */
    public static MegatronCheckpoint open(Path path) {
        if (Files.isRegularFile(path)) {
            return openFiles(path.getParent() == null ? path : path.getParent().getParent(), List.of(path), true);
        }
        Path it = iterationDir(path);
        List<Path> dirs = rankDirs(it);
        if (dirs.isEmpty()) {
            throw BadInputException.in(it, "no mp_rank_* folders: not a Megatron iteration folder"
                    + (Files.isDirectory(it.resolve("__0_0.distcp")) || Files.exists(it.resolve(".metadata"))
                    ? " (this is a torch_dist distributed checkpoint, which is not read yet)" : ""));
        }
        List<Path> files = new ArrayList<>();
        for (Path d : dirs) {
            Path f = d.resolve(FILE);
            if (!Files.isRegularFile(f)) {
                throw BadInputException.in(d, "has no " + FILE);
            }
            files.add(f);
        }
        return openFiles(it, files, false);
    }

    private static MegatronCheckpoint openFiles(Path dir, List<Path> files, boolean singleFile) {
        // Shards are independent; reading their pickles in parallel hides most of the latency.
        Map<Path, Object> opened = new ConcurrentHashMap<>();
        files.parallelStream().forEach(f -> {
            try {
                opened.put(f, TorchFile.open(f));
            } catch (RuntimeException e) {
                opened.put(f, e);
            }
        });
        List<TorchFile> tfs = new ArrayList<>();
        RuntimeException failure = null;
        for (Path f : files) {
            Object o = opened.get(f);
            if (o instanceof TorchFile tf) {
                tfs.add(tf);
            } else if (failure == null) {
                failure = (RuntimeException) o;
            }
        }
        if (failure != null) {
            tfs.forEach(TorchFile::close);
            throw failure;
        }
        try {
            return assemble(dir, tfs, singleFile);
        } catch (RuntimeException e) {
            tfs.forEach(TorchFile::close);
            throw e;
        }
    }

    /** {@code single}: the user named one shard file, so the other ranks are not expected. */
    private static MegatronCheckpoint assemble(Path dir, List<TorchFile> files, boolean single) {
        TorchFile first = files.getFirst();
        Py.Dict root = RankShard.rootDict(first);
        Py argsValue = root.get("args");
        MegatronArgs args = new MegatronArgs(argsValue == null ? Py.None.INSTANCE : argsValue);
        int tp = (int) args.getLong("tensor_model_parallel_size", -1);
        int pp = (int) args.getLong("pipeline_model_parallel_size", -1);
        int ep = (int) args.getLong("expert_model_parallel_size", 1);
        int vpp = (int) args.getLong("virtual_pipeline_model_parallel_size", 1);
        if (vpp < 1) {
            vpp = 1;
        }
        record Name(String folder, int a, int b, int c) {
        }
        List<Name> names = new ArrayList<>();
        for (TorchFile f : files) {
            String folder = f.path().getParent() == null ? "." : f.path().getParent().getFileName().toString();
            Matcher m = RANK_DIR.matcher(folder);
            names.add(m.matches() ? new Name(folder, Integer.parseInt(m.group(1)),
                    m.group(2) == null ? -1 : Integer.parseInt(m.group(2)),
                    m.group(3) == null ? -1 : Integer.parseInt(m.group(3)))
                    : new Name(folder, 0, -1, -1));
        }
        if (tp < 0 || pp < 0) { // no args: infer from the folder names alone (two numbers = pipeline)
            tp = names.stream().mapToInt(Name::a).max().orElse(0) + 1;
            pp = names.stream().mapToInt(Name::b).max().orElse(0) + 1;
        }
        List<RankShard> shards = new ArrayList<>();
        TreeSet<String> seen = new TreeSet<>();
        for (int i = 0; i < files.size(); i++) {
            Name n = names.get(i);
            int ppRank;
            int epRank;
            if (n.c() >= 0) {
                ppRank = n.b();
                epRank = n.c();
            } else if (n.b() >= 0) {
                // mp_rank_TT_XXX is PP when the pipeline is split, else EP: only args can tell.
                ppRank = pp > 1 ? n.b() : 0;
                epRank = pp > 1 ? 0 : n.b();
            } else {
                ppRank = 0;
                epRank = 0;
            }
            if (!single && (n.a() >= tp || ppRank >= pp || epRank >= ep)) {
                throw BadInputException.in(files.get(i).path(), "folder " + n.folder() + " does not fit the layout in"
                        + " args (TP=" + tp + ", PP=" + pp + ", EP=" + ep + ")");
            }
            seen.add(n.folder());
            shards.add(new RankShard(n.folder(), n.a(), ppRank, epRank, files.get(i)));
        }
        ParallelLayout layout = new ParallelLayout(tp, pp, vpp, ep);
        if (!single) {
            for (int t = 0; t < tp; t++) {
                for (int p = 0; p < pp; p++) {
                    for (int e = 0; e < ep; e++) {
                        String expected = "mp_rank_" + String.format("%02d", t) + (pp > 1 ? String.format("_%03d", p) : "")
                                + (ep > 1 ? String.format("_%03d", e) : "");
                        if (!seen.contains(expected)) {
                            throw BadInputException.in(dir, "missing shard folder " + expected + " for the layout in args ("
                                    + layout.describe() + ")");
                        }
                    }
                }
            }
        }
        shards.sort(Comparator.comparingInt(RankShard::ppRank).thenComparingInt(RankShard::epRank)
                .thenComparingInt(RankShard::tpRank));
        int chunks = shards.getFirst().chunks().size();
        if (chunks > 1 && vpp != chunks) {
            vpp = chunks;
            layout = new ParallelLayout(tp, pp, vpp, ep);
        }
        // Global layer offsets from the layers each stage actually holds, in model order
        // (chunk-major, then stage), so uneven first/last stages need no special case.
        int[][] offsets = new int[pp][chunks];
        int[][] counts = new int[pp][chunks];
        for (RankShard s : shards) {
            if (s.tpRank() == 0 && s.epRank() == 0) {
                for (int v = 0; v < s.chunks().size() && v < chunks; v++) {
                    counts[s.ppRank()][v] = localLayerCount(s.chunks().get(v));
                }
            }
        }
        int acc = 0;
        for (int v = 0; v < chunks; v++) {
            for (int p = 0; p < pp; p++) {
                offsets[p][v] = acc;
                acc += counts[p][v];
            }
        }
        long declared = args.getLong("num_layers", -1);
        if (!single && declared >= 0 && declared != acc) {
            throw BadInputException.in(dir, "shards hold " + acc + " layers but args.num_layers is " + declared);
        }
        String iteration = dir.getFileName() == null ? "?" : dir.getFileName().toString();
        Py version = root.get("checkpoint_version");
        return new MegatronCheckpoint(dir, iteration, shards, layout, args, version, offsets, acc);
    }

    private static int localLayerCount(Map<String, Tensor> chunk) {
        int max = -1;
        for (String k : chunk.keySet()) {
            max = Math.max(max, layerOf(k));
        }
        return max + 1;
    }

    private static final String LAYERS = "decoder.layers.";

    /** The layer number in a {@code ...decoder.layers.N.rest} key, or -1. */
    static int layerOf(String key) {
        int at = key.indexOf(LAYERS);
        if (at < 0 || VisionTowers.isVision(key)) { // vision blocks are not pipeline-split language layers
            return -1;
        }
        int i = at + LAYERS.length();
        int n = 0;
        int digits = 0;
        while (i < key.length() && Character.isDigit(key.charAt(i)) && digits < 7) {
            n = n * 10 + (key.charAt(i++) - '0');
            digits++;
        }
        return digits > 0 && i < key.length() && key.charAt(i) == '.' ? n : -1;
    }

    /** A shard key with its local layer number replaced by the global one. */
    public String globalKey(RankShard shard, int chunk, String key) {
        int local = layerOf(key);
        if (local < 0) {
            return key;
        }
        int start = key.indexOf(LAYERS) + LAYERS.length();
        int end = key.indexOf('.', start);
        return key.substring(0, start) + (layerOffsets[shard.ppRank()][chunk] + local) + key.substring(end);
    }

    public Path dir() {
        return dir;
    }

    public String iteration() {
        return iteration;
    }

    public List<RankShard> shards() {
        return shards;
    }

    public ParallelLayout layout() {
        return layout;
    }

    public MegatronArgs args() {
        return args;
    }

    public int numLayers() {
        return numLayers;
    }

    public Optional<String> checkpointVersion() {
        return switch (checkpointVersion) {
            case null -> Optional.empty();
            case Py.Float(double d) -> Optional.of(Double.toString(d));
            case Py v -> PyValues.asLong(v).map(String::valueOf);
        };
    }

    @Override
    public void close() {
        shards.forEach(RankShard::close);
    }
}
