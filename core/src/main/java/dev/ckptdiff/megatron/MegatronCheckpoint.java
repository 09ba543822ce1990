package dev.ckptdiff.megatron;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.SideFile;
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
    private final LayerNumbering layers;
    private final ExpertLayout experts;

    private MegatronCheckpoint(Path dir, String iteration, List<RankShard> shards, ParallelLayout layout,
                               MegatronArgs args, Py checkpointVersion, LayerNumbering layers, ExpertLayout experts) {
        this.dir = dir;
        this.iteration = iteration;
        this.shards = shards;
        this.layout = layout;
        this.args = args;
        this.checkpointVersion = checkpointVersion;
        this.layers = layers;
        this.experts = experts;
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
        if (!rankDirs(dir).isEmpty() || !Files.exists(tracker)) {
            return dir;
        }
        // Megatron writes a number or "release"; 4 KiB is far beyond either.
        String text = new String(SideFile.read(tracker, 4096, "latest_checkpointed_iteration.txt"),
                java.nio.charset.StandardCharsets.UTF_8).strip();
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

    /** A rank folder's name split into its numbers; -1 where the name has no such part. */
    private record RankName(String folder, int a, int b, int c) {
        static RankName of(Path file) {
            String folder = file.getParent() == null ? "." : file.getParent().getFileName().toString();
            Matcher m = RANK_DIR.matcher(folder);
            return m.matches() ? new RankName(folder, Integer.parseInt(m.group(1)),
                    m.group(2) == null ? -1 : Integer.parseInt(m.group(2)),
                    m.group(3) == null ? -1 : Integer.parseInt(m.group(3)))
                    : new RankName(folder, 0, -1, -1);
        }
    }

    /** Args that leave stage sizes uneven, where Megatron's equal-stage numbering does not apply. */
    private static final List<String> UNEVEN = List.of("decoder_first_pipeline_num_layers",
            "decoder_last_pipeline_num_layers", "num_layers_in_first_pipeline_stage", "num_layers_in_last_pipeline_stage",
            "pipeline_model_parallel_layout", "account_for_embedding_in_pipeline_split", "account_for_loss_in_pipeline_split");

    /** {@code single}: the user named one shard file, so the other ranks are not expected. */
    private static MegatronCheckpoint assemble(Path dir, List<TorchFile> files, boolean single) {
        TorchFile first = files.getFirst();
        Py.Dict root = RankShard.rootDict(first);
        Py argsValue = root.get("args");
        MegatronArgs args = argsValue == null || argsValue instanceof Py.None ? MegatronArgs.none(first.path())
                : MegatronArgs.checked(argsValue, first.path());
        List<RankName> names = files.stream().map(f -> RankName.of(f.path())).toList();
        ParallelLayout claimed = claimedLayout(args, names);
        int tp = claimed.tp();
        int pp = claimed.pp();
        int ep = claimed.ep();
        List<RankShard> shards = new ArrayList<>();
        TreeSet<String> seen = new TreeSet<>();
        Map<List<Integer>, String> ranks = new java.util.HashMap<>();
        for (int i = 0; i < files.size(); i++) {
            RankName n = names.get(i);
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
            if (n.a() >= tp || ppRank >= pp || epRank >= ep) {
                throw BadInputException.in(files.get(i).path(), "folder " + n.folder() + " does not fit the layout in"
                        + " args (TP=" + tp + ", PP=" + pp + ", EP=" + ep + ")");
            }
            String other = ranks.putIfAbsent(List.of(n.a(), ppRank, epRank), n.folder());
            if (other != null) {
                throw BadInputException.in(dir, "folders " + other + " and " + n.folder() + " both hold TP rank " + n.a()
                        + ", PP rank " + ppRank + ", EP rank " + epRank + " of the layout (" + claimed.describe() + ")");
            }
            seen.add(n.folder());
            shards.add(new RankShard(n.folder(), n.a(), ppRank, epRank, files.get(i)));
        }
        ExpertLayout experts = expertLayout(dir, args, shards, tp, ep);
        if (!single) {
            requireWrittenFolders(dir, claimed, writtenFolders(dir, args, claimed, experts), shards, seen,
                    statesLayout(args) ? "in args" : "inferred from the folder names");
        }
        if (!statesLayout(args)) {
            dev.ckptdiff.io.Warnings.warn(first.path() + ": " + (args.isPresent()
                    ? "args have no tensor_model_parallel_size/pipeline_model_parallel_size" : "no args") + "; layout "
                    + claimed.describe() + " inferred from the folder names" + (args.getLong("num_layers").isEmpty()
                    ? ", layer numbers from the shards' own keys" : ""));
        }
        shards.sort(Comparator.comparingInt(RankShard::ppRank).thenComparingInt(RankShard::epRank)
                .thenComparingInt(RankShard::tpRank));
        int chunks = shards.getFirst().chunks().size();
        for (RankShard s : shards) {
            if (s.chunks().size() != chunks) {
                throw BadInputException.in(s.path(), "holds " + s.chunks().size() + " model chunk(s), but "
                        + shards.getFirst().folder() + " holds " + chunks + ": the shards come from different layouts");
            }
        }
        int vpp = chunks > 1 ? chunks : 1;
        ParallelLayout layout = new ParallelLayout(tp, pp, vpp, ep);
        // The local layer numbers every stage's keys use (any TP/EP rank of it), bounded by the keys held.
        Map<Integer, List<TreeSet<Long>>> local = new TreeMap<>();
        for (RankShard s : shards) {
            List<TreeSet<Long>> perChunk = local.computeIfAbsent(s.ppRank(), k -> new ArrayList<>());
            for (int v = 0; v < chunks; v++) {
                if (perChunk.size() <= v) {
                    perChunk.add(new TreeSet<>());
                }
                for (String k : s.chunks().get(v).keySet()) {
                    long l = layerOf(k);
                    if (l >= 0) {
                        perChunk.get(v).add(l);
                    }
                }
            }
        }
        boolean even = UNEVEN.stream().allMatch(k -> PyValues.find(args.value(), k)
                .map(v -> v instanceof Py.None || v instanceof Py.Bool(boolean b) && !b).orElse(true));
        LayerNumbering layers = LayerNumbering.of(local, pp, vpp, single ? -1 : args.getLong("num_layers", -1), even,
                dir.toString());
        String iteration = dir.getFileName() == null ? "?" : dir.getFileName().toString();
        Py version = root.get("checkpoint_version");
        return new MegatronCheckpoint(dir, iteration, shards, layout, args, version, layers, experts);
    }

    /** From args where they say, else from the expert keys the shards hold. */
    private static ExpertLayout expertLayout(Path dir, MegatronArgs args, List<RankShard> shards, int tp, int ep) {
        int maxLocal = -1;
        boolean grouped = false;
        for (RankShard s : shards) {
            for (Map<String, Tensor> chunk : s.chunks()) {
                for (String k : chunk.keySet()) {
                    int[] span = ExpertKeys.span(k);
                    if (span != null) {
                        maxLocal = Math.max(maxLocal, Integer.parseInt(k, span[0], span[1], 10));
                        grouped |= ExpertKeys.grouped(k, span);
                    }
                }
            }
        }
        long declared = args.getLong("num_experts", -1);
        if (maxLocal < 0 && declared <= 0) {
            return ExpertLayout.NONE;
        }
        int etp = (int) args.getLong("expert_tensor_parallel_size", tp);
        if (etp < 1) {
            etp = tp; // argparse's None: Megatron then uses TP
        }
        if (declared <= 0) {
            return new ExpertLayout((maxLocal + 1) * ep, ep, etp, maxLocal + 1, grouped);
        }
        if (declared % ep != 0) {
            throw BadInputException.in(dir, "args.num_experts " + declared + " does not divide over"
                    + " expert_model_parallel_size " + ep);
        }
        int local = (int) (declared / ep);
        if (maxLocal >= local) {
            throw BadInputException.in(dir, "shards hold local expert " + maxLocal + " but args give " + declared
                    + " experts / EP=" + ep + " = " + local + " per rank");
        }
        return new ExpertLayout((int) declared, ep, etp, local, grouped);
    }

    /** The folders Megatron writes: with routed experts ETP and CP decide which TP x EP folders exist. */
    private static LegacyFolders writtenFolders(Path dir, MegatronArgs args, ParallelLayout l, ExpertLayout experts) {
        int cp = (int) args.getLong("context_parallel_size", 1);
        if (!experts.present()) {
            return LegacyFolders.dense(l.tp(), l.pp(), l.ep(), cp);
        }
        try {
            return new LegacyFolders(l.tp(), l.pp(), l.ep(), experts.etp(), cp);
        } catch (BadInputException e) {
            throw BadInputException.in(dir, "args: " + e.getMessage());
        }
    }

    /** The layout args state, or, for shards saved without them, the one the folder names imply. */
    private static ParallelLayout claimedLayout(MegatronArgs args, List<RankName> names) {
        if (statesLayout(args)) {
            return new ParallelLayout((int) args.getLong("tensor_model_parallel_size", 1),
                    (int) args.getLong("pipeline_model_parallel_size", 1),
                    (int) args.getLong("virtual_pipeline_model_parallel_size", 1),
                    (int) args.getLong("expert_model_parallel_size", 1));
        }
        // Two numbers in a name are TP and PP, three are TP, PP and EP (Megatron's get_checkpoint_name).
        int t = names.stream().mapToInt(RankName::a).max().orElse(0) + 1;
        int p = names.stream().mapToInt(RankName::b).max().orElse(-1) + 1;
        int e = names.stream().mapToInt(RankName::c).max().orElse(-1) + 1;
        return new ParallelLayout(t, Math.max(1, p), 1, Math.max(1, e));
    }

    private static boolean statesLayout(MegatronArgs args) {
        return args.getLong("tensor_model_parallel_size").isPresent() && args.getLong("pipeline_model_parallel_size").isPresent();
    }

    /**
     * Every folder Megatron's legacy save writes for the layout must exist (with ETP < TP not the full TP x EP
     * grid; a superset such as the full grid is fine). The folder's own count bounds the work: at most that
     * many names are generated before the missing ones are found, whatever sizes args claim.
     */
    private static void requireWrittenFolders(Path dir, ParallelLayout l, LegacyFolders written, List<RankShard> shards,
                                              TreeSet<String> seen, String from) {
        long expected = written.count();
        List<String> missing = written.folders().limit(seen.size() + 3L).map(written::name)
                .filter(n -> !seen.contains(n)).limit(3).toList();
        if (missing.isEmpty()) {
            return;
        }
        long present = shards.stream().filter(s -> written.written(s.tpRank(), s.epRank())).count();
        long absent = Math.max(missing.size(), expected - present);
        String grid = expected < written.gridSize() ? ", ETP=" + written.etp() + ": the " + expected + " of the "
                + written.gridSize() + " TP x EP folders Megatron writes" : "";
        throw BadInputException.in(dir, "missing shard folder" + (absent > 1 ? "s " : " ") + String.join(", ", missing)
                + (absent > missing.size() ? " and " + (absent - missing.size()) + " more" : "") + " for the layout " + from
                + " (" + l.describe() + grid + "): the folder holds " + present + " of " + expected);
    }

    private static final String LAYERS = "decoder.layers.";

    /** The layer number (up to 9 digits) in a {@code ...decoder.layers.N.rest} key, or -1. */
    static long layerOf(String key) {
        int at = key.indexOf(LAYERS);
        if (at < 0 || VisionTowers.isVision(key)) { // vision blocks are not pipeline-split language layers
            return -1;
        }
        int i = at + LAYERS.length();
        long n = 0;
        int digits = 0;
        while (i < key.length() && key.charAt(i) >= '0' && key.charAt(i) <= '9' && digits < 9) {
            n = n * 10 + (key.charAt(i++) - '0');
            digits++;
        }
        return digits > 0 && i < key.length() && key.charAt(i) == '.' ? n : -1;
    }

    /** A shard key with its local layer (and local expert) number replaced by the global one. */
    public String globalKey(RankShard shard, int chunk, String key) {
        long local = layerOf(key);
        if (local < 0) {
            return key;
        }
        int start = key.indexOf(LAYERS) + LAYERS.length();
        int end = key.indexOf('.', start);
        // One pass for both numbers: tens of thousands of expert keys a side come through here.
        StringBuilder global = new StringBuilder(key.length() + 8).append(key, 0, start)
                .append(layers.global(shard.ppRank(), chunk, local));
        int[] span = ExpertKeys.span(key);
        if (span != null && span[0] > end) {
            global.append(key, end, span[0])
                    .append(experts.global(shard.epRank(), Integer.parseInt(key, span[0], span[1], 10)))
                    .append(key, span[1], key.length());
        } else {
            global.append(key, end, key.length());
        }
        return global.toString();
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

    /** The layer count the model should have: args' num_layers, else what the shards' keys number. */
    public long numLayers() {
        return layers.total();
    }

    /** Which layers the shards hold and lack. */
    public LayerNumbering layers() {
        return layers;
    }

    /** How routed experts are laid out ({@link ExpertLayout#NONE} for a dense model). */
    public ExpertLayout experts() {
        return experts;
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
