package dev.ckptdiff.torchdist;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.diff.Assembled;
import dev.ckptdiff.diff.Check;
import dev.ckptdiff.diff.ModelView;
import dev.ckptdiff.diff.Piece;
import dev.ckptdiff.diff.Source;
import dev.ckptdiff.diff.NaturalOrder;
import dev.ckptdiff.diff.Views;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Split;
import dev.ckptdiff.tensor.Tensor;

/**
 * A torch_dist checkpoint as the diff sees it: global keys split into the legacy per-layer Megatron
 * names (stacked keys by their leading layer axis), then renamed by the same architecture table.
 * The chunks are already global, so no TP merge is needed: each chunk is a rectangle placed at its
 * offsets, and fused QKV / gated fc1 are cut by rows of the TP=1 layout (FORMATS.md sections 4, 13).
 */
public final class TorchDistViews {
    private static final String STACK = "decoder.layers.";
    /** Megatron-Core's global key infix for routed experts (experts.py sharded_state_dict). */
    private static final String EXPERTS = ".mlp.experts.experts.";

    private TorchDistViews() {
    }

    /** One per-layer (or unstacked) tensor: its Megatron name, shape and pieces in its own rows x cols. */
    record LayerTensor(String key, long[] shape, List<Piece> pieces) {
    }

    public static ModelView view(TorchDistCheckpoint ckpt, Architecture arch, JsonNode hfConfig, String label) {
        Views.Dims dims = Views.Dims.of(ckpt.args(), hfConfig);
        boolean tied = hfConfig != null && hfConfig.size() > 0 ? Views.tied(hfConfig)
                : !ckpt.args().getBool("untie_embeddings_and_output_weights").orElse(false);
        Map<String, LayerTensor> perLayer = new TreeMap<>(NaturalOrder::compare);
        for (Map.Entry<String, List<TorchDistCheckpoint.Chunk>> e : ckpt.chunks().entrySet()) {
            for (LayerTensor t : split(e.getKey(), e.getValue(), label)) {
                perLayer.put(t.key(), t);
            }
        }
        Map<String, Assembled> tensors = new LinkedHashMap<>();
        List<Check> checks = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        long unmapped = 0;
        Assembled outputLayer = null;
        for (LayerTensor t : perLayer.values()) {
            Optional<Architecture.Match> match = arch.match(t.key());
            if (match.isEmpty()) {
                tensors.put(t.key(), new Assembled(t.key(), t.shape(), t.pieces(), false));
                unmapped++;
                continue;
            }
            Split split = match.get().rule().split();
            List<String> names = match.get().hfNames();
            String where = ckpt.dir() + ": " + t.key();
            List<Assembled> made = switch (split) {
                case QKV -> qkv(t, names, dims, where);
                case GATE_UP -> gateUp(t, names, where);
                default -> List.of(new Assembled(names.getFirst(), t.shape(), t.pieces(), split == Split.VOCAB));
            };
            if (t.key().equals("output_layer.weight") && tied) {
                outputLayer = made.getFirst();
                continue;
            }
            for (Assembled a : made) {
                if (tensors.put(a.name(), a) != null) {
                    throw new BadInputException(where + ": two Megatron keys map to " + a.name());
                }
            }
        }
        if (outputLayer != null) {
            Assembled embedding = tensors.values().stream().filter(a -> a.name().endsWith("embed_tokens.weight"))
                    .findFirst().orElse(null);
            if (embedding == null) {
                notes.add("tied model: output_layer.weight found but no embedding to check it against");
            } else {
                checks.add(new Check(Check.Kind.TIED_COPY, "output_layer.weight", embedding,
                        new Assembled(embedding.name(), outputLayer.shape(), outputLayer.pieces(), true),
                        "tied embeddings: output_layer.weight must equal the embedding"));
            }
        }
        if (unmapped > 0) {
            notes.add(unmapped + " Megatron keys have no HF name in the " + arch.name() + " table (shown as only in "
                    + label + ")");
        }
        long extra = ckpt.extraStates();
        if (extra > 0) {
            notes.add("skipped " + extra + " _extra_state byte items (not weights)");
        }
        return new ModelView(label, "megatron", tensors, checks, notes, List.of());
    }

    /**
     * A key's per-layer (and per-expert) tensors: stacked keys ({@code decoder.layers.<sub>}) by their
     * leading layer axis, and routed experts ({@code mlp.experts.experts.}, SequentialMLP and grouped
     * experts alike) by their expert axis, named as the legacy reader names global expert E
     * ({@code mlp.experts.local_experts.E.}). Each chunk is filed under every leading index it covers.
     */
    static List<LayerTensor> split(String key, List<TorchDistCheckpoint.Chunk> chunks, String label) {
        GlobalTensor g = chunks.isEmpty() ? null : chunks.getFirst().of();
        if (g == null) {
            return List.of();
        }
        int lead = leadingAxes(key);
        if (lead == 0 || g.shape().length < lead) {
            return List.of(place(key, g.shape(), chunks, new long[0], label));
        }
        Map<List<Long>, List<TorchDistCheckpoint.Chunk>> byIndex = new TreeMap<>(TorchDistViews::lexical);
        for (TorchDistCheckpoint.Chunk c : chunks) {
            long[] off = c.meta().offsets();
            long[] size = c.meta().sizes();
            long[] at = Arrays.copyOf(off, lead);
            while (true) {
                List<Long> index = Arrays.stream(at).boxed().toList();
                byIndex.computeIfAbsent(index, i -> new ArrayList<>()).add(c);
                int d = lead - 1;
                while (d >= 0 && ++at[d] == off[d] + size[d]) {
                    at[d] = off[d];
                    d--;
                }
                if (d < 0) {
                    break;
                }
            }
        }
        long[] shape = Arrays.copyOfRange(g.shape(), lead, g.shape().length);
        List<LayerTensor> out = new ArrayList<>();
        for (Map.Entry<List<Long>, List<TorchDistCheckpoint.Chunk>> e : byIndex.entrySet()) {
            long[] index = e.getKey().stream().mapToLong(Long::longValue).toArray();
            out.add(place(name(key, index), shape, e.getValue(), index, label));
        }
        return out;
    }

    private static int lexical(List<Long> a, List<Long> b) {
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
            int c = Long.compare(a.get(i), b.get(i));
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(a.size(), b.size());
    }

    /** How many leading axes of a global key index layers and experts (0, 1 or 2). */
    public static int leadingAxes(String key) {
        return (stacked(key) ? 1 : 0) + (experts(key) ? 1 : 0);
    }

    /** A global key of routed experts, with an expert axis (after the layer axis of a stacked key). */
    public static boolean experts(String key) {
        return key.contains(EXPERTS);
    }

    /** The legacy name of one (layer, expert) slice of a stacked and/or expert-stacked key. */
    public static String name(String key, long[] index) {
        int i = 0;
        String name = key;
        if (stacked(key)) {
            name = STACK + index[i++] + "." + key.substring(STACK.length());
        }
        if (experts(key)) {
            name = name.replace(EXPERTS, ".mlp.experts.local_experts." + index[i] + ".");
        }
        return name;
    }

    /** {@code decoder.layers.<sub>} without a layer number is a stack of all layers. */
    public static boolean stacked(String key) {
        if (!key.startsWith(STACK)) {
            return false;
        }
        int end = key.indexOf('.', STACK.length());
        String next = end < 0 ? key.substring(STACK.length()) : key.substring(STACK.length(), end);
        return !next.chars().allMatch(Character::isDigit);
    }

    /**
     * The pieces of one slice of a key in its rows x cols: {@code fixed} holds its index on each leading
     * (layer, expert) axis, empty for a key that is not stacked; {@code chunks} all cover that index.
     */
    private static LayerTensor place(String name, long[] shape, List<TorchDistCheckpoint.Chunk> chunks, long[] fixed,
                                     String label) {
        List<Piece> pieces = new ArrayList<>();
        long inner = 1; // elements per index of dim 1 (the product of dims 2..)
        for (int d = 2; d < shape.length; d++) {
            inner *= shape[d];
        }
        int lead = fixed.length;
        for (TorchDistCheckpoint.Chunk c : chunks) {
            long[] off = c.meta().offsets();
            long[] size = c.meta().sizes();
            Tensor t = c.tensor();
            for (int d = 0; d < lead; d++) {
                t = slice(t, fixed[d] - off[d]);
            }
            long[] o = Arrays.copyOfRange(off, lead, off.length);
            long[] z = Arrays.copyOfRange(size, lead, size.length);
            for (int d = 2; d < shape.length; d++) {
                if (o[d] != 0 || z[d] != shape[d]) {
                    throw new BadInputException(c.meta().where().file() + ": chunk " + c.of().key() + c.meta().slice()
                            + " splits dimension " + (d + lead) + "; only the first two dimensions of a layer may be split");
                }
            }
            Source src = new Source(label, c.meta().where().file() + "@" + c.meta().where().offset(),
                    c.of().key() + c.meta().slice(), "");
            long row0 = o.length == 0 ? 0 : o[0];
            long rows = z.length == 0 ? 1 : z[0];
            long col0 = o.length < 2 ? 0 : o[1] * inner;
            long cols = z.length < 2 ? 1 : z[1] * inner;
            pieces.add(new Piece(t, src, row0, col0, rows, cols, 0, 0));
        }
        return new LayerTensor(name, shape, List.copyOf(pieces));
    }

    /** Index {@code i} of a tensor's leading axis, as a view. */
    private static Tensor slice(Tensor t, long i) {
        return new Tensor(t.name(), t.dtype(), Arrays.copyOfRange(t.shape(), 1, t.rank()),
                Arrays.copyOfRange(t.stride(), 1, t.rank()), t.storage(), t.storageOffset() + i * t.stride()[0], t.origin());
    }

    /** Rows {@code [from, from+count)} of a layer tensor's pieces, placed from row {@code dest} of a new tensor. */
    private static List<Piece> rows(List<Piece> pieces, long from, long count, long dest, String part) {
        List<Piece> out = new ArrayList<>();
        for (Piece p : pieces) {
            long lo = Math.max(from, p.hfRow0());
            long hi = Math.min(from + count, p.hfRow0() + p.rows());
            if (lo >= hi) {
                continue;
            }
            Source s = p.source();
            out.add(new Piece(p.src(), new Source(s.copy(), s.file(), s.key(), part), dest + lo - from, p.hfCol0(),
                    hi - lo, p.cols(), p.srcRow0() + lo - p.hfRow0(), p.srcCol0()));
        }
        return out;
    }

    private static List<Assembled> qkv(LayerTensor t, List<String> names, Views.Dims d, String where) {
        long hpg = d.headsPerGroup(where);
        long nh = d.heads();
        long ng = d.groups();
        long hd = d.headDim();
        long perGroup = (hpg + 2) * hd;
        if (Piece.rowsOf(t.shape()) != ng * perGroup) {
            throw new BadInputException(where + ": fused QKV has " + Piece.rowsOf(t.shape()) + " rows; " + ng
                    + " groups x (" + hpg + " query + 1 key + 1 value) heads x head dim " + hd + " = " + ng * perGroup
                    + " expected");
        }
        List<Piece> q = new ArrayList<>();
        List<Piece> k = new ArrayList<>();
        List<Piece> v = new ArrayList<>();
        for (long g = 0; g < ng; g++) {
            long base = g * perGroup;
            q.addAll(rows(t.pieces(), base, hpg * hd, g * hpg * hd, "q"));
            k.addAll(rows(t.pieces(), base + hpg * hd, hd, g * hd, "k"));
            v.addAll(rows(t.pieces(), base + (hpg + 1) * hd, hd, g * hd, "v"));
        }
        return List.of(new Assembled(names.get(0), withRows(t.shape(), nh * hd), q, false),
                new Assembled(names.get(1), withRows(t.shape(), ng * hd), k, false),
                new Assembled(names.get(2), withRows(t.shape(), ng * hd), v, false));
    }

    /** Megatron-Core stores gated fc1 globally as [gate; up] (apply_swiglu_sharded_factory). */
    private static List<Assembled> gateUp(LayerTensor t, List<String> names, String where) {
        long rows = Piece.rowsOf(t.shape());
        if (t.shape().length == 0 || rows % 2 != 0) {
            throw new BadInputException(where + ": gated fc1 has " + rows + " rows, expected an even count ([gate; up])");
        }
        long half = rows / 2;
        return List.of(new Assembled(names.get(0), withRows(t.shape(), half), rows(t.pieces(), 0, half, 0, "gate"), false),
                new Assembled(names.get(1), withRows(t.shape(), half), rows(t.pieces(), half, half, 0, "up"), false));
    }

    private static long[] withRows(long[] shape, long rows) {
        long[] s = shape.clone();
        s[0] = rows;
        return s;
    }
}
