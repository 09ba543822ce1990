package dev.ckptdiff.megatron;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Global layer numbers of a legacy checkpoint's local layer keys, and the layers no shard holds.
 * With {@code num_layers} in args and equal stages, Megatron's own rule numbers them (chunk v of
 * stage p starts at {@code v*L/vpp + p*L/(pp*vpp)}), so a stage that lost its last layer does not
 * shift the stages after it; otherwise the stages' own keys count the layers, in model order.
 * All sizes here come from what the shards hold: nothing is allocated or iterated per claimed layer.
 */
public final class LayerNumbering {
    /** Consecutive layers {@code first..last}. */
    public record Range(long first, long last) {
        long size() {
            return last - first + 1;
        }
    }

    private final long perChunk; // > 0: Megatron's rule applies
    private final long total;
    private final int vpp;
    private final Map<Integer, long[]> keyOffsets; // ppRank -> chunk -> first global layer (keys mode)
    private final TreeSet<Long> present;
    private final String claim;

    private LayerNumbering(long perChunk, long total, int vpp, Map<Integer, long[]> keyOffsets,
                           TreeSet<Long> present, String claim) {
        this.perChunk = perChunk;
        this.total = total;
        this.vpp = vpp;
        this.keyOffsets = keyOffsets;
        this.present = present;
        this.claim = claim;
    }

    /**
     * {@code localLayers}: per pipeline rank present, per chunk, the local layer numbers its keys use.
     * {@code declared}: args' num_layers, or -1; {@code even}: args set no uneven first/last stage.
     */
    static LayerNumbering of(Map<Integer, List<TreeSet<Long>>> localLayers, int pp, int vpp, long declared,
                             boolean even, String where) {
        TreeSet<Long> present = new TreeSet<>();
        if (declared > 0 && even && declared % ((long) pp * vpp) == 0) {
            long per = declared / ((long) pp * vpp);
            for (Map.Entry<Integer, List<TreeSet<Long>>> stage : localLayers.entrySet()) {
                for (int v = 0; v < stage.getValue().size(); v++) {
                    TreeSet<Long> local = stage.getValue().get(v);
                    if (!local.isEmpty() && local.last() >= per) {
                        throw new dev.ckptdiff.io.BadInputException(where + ": pipeline rank " + stage.getKey()
                                + (vpp > 1 ? " chunk model" + v : "") + " holds local layer " + local.last()
                                + ", but args (num_layers=" + declared + ", PP=" + pp + (vpp > 1 ? ", VPP=" + vpp : "")
                                + ") give each " + (vpp > 1 ? "chunk " : "stage ") + per + " layer(s)");
                    }
                    long offset = v * (declared / vpp) + stage.getKey() * per;
                    local.forEach(l -> present.add(offset + l));
                }
            }
            return new LayerNumbering(per, declared, vpp, Map.of(), present, "args num_layers=" + declared);
        }
        // Model order is chunk-major, then stage; stages the shards lack count as empty.
        Map<Integer, long[]> offsets = new TreeMap<>();
        int chunks = localLayers.values().stream().mapToInt(List::size).max().orElse(0);
        long acc = 0;
        for (int v = 0; v < chunks; v++) {
            for (Map.Entry<Integer, List<TreeSet<Long>>> stage : localLayers.entrySet()) {
                long[] o = offsets.computeIfAbsent(stage.getKey(), k -> new long[chunks]);
                o[v] = acc;
                TreeSet<Long> local = v < stage.getValue().size() ? stage.getValue().get(v) : new TreeSet<>();
                for (long l : local) {
                    present.add(acc + l);
                }
                acc += local.isEmpty() ? 0 : local.last() + 1;
            }
        }
        if (declared > 0 && acc > declared) {
            throw new dev.ckptdiff.io.BadInputException(where + ": the shards' keys number " + acc
                    + " layers but args.num_layers is " + declared);
        }
        long total = declared > 0 ? declared : acc;
        String claim = declared > 0 ? "args num_layers=" + declared
                : "the shards' keys run to layer " + (acc - 1);
        return new LayerNumbering(0, total, vpp, offsets, present, claim);
    }

    /** The global number of local layer {@code local} of chunk {@code chunk} on pipeline rank {@code ppRank}. */
    public long global(int ppRank, int chunk, long local) {
        if (perChunk > 0) {
            return chunk * (total / vpp) + ppRank * perChunk + local;
        }
        long[] o = keyOffsets.get(ppRank);
        return (o == null || chunk >= o.length ? 0 : o[chunk]) + local;
    }

    /** The layer count the model should have: args' num_layers, else what the keys number. */
    public long total() {
        return total;
    }

    /** Layers below {@link #total()} that no shard holds, as ranges (at most one more than the layers held). */
    public List<Range> missing() {
        return missing(present, total);
    }

    /** E.g. "layers 3, 4 missing: args num_layers=6, shards hold 4 layers"; empty when no layer is missing. */
    public Optional<String> describeMissing() {
        return describeMissing(present, total, claim, "shards", "layer");
    }

    /** Numbers below {@code total} absent from {@code present}, as ranges: work bounded by what is present. */
    public static List<Range> missing(SortedSet<Long> present, long total) {
        List<Range> out = new ArrayList<>();
        long next = 0;
        for (long l : present) {
            if (l >= total) {
                break;
            }
            if (l > next) {
                out.add(new Range(next, l - 1));
            }
            next = l + 1;
        }
        if (next < total) {
            out.add(new Range(next, total - 1));
        }
        return out;
    }

    /**
     * "layers 3, 4 missing: CLAIM, HOLDERS hold 4 layers", or "layers 3..9999998 missing (9,999,996
     * layers): ..." when ranges are shortened ({@code unit} names what is counted: layer, expert, ...);
     * empty when nothing is missing.
     */
    public static Optional<String> describeMissing(SortedSet<Long> present, long total, String claim, String holders,
                                                   String unit) {
        List<Range> gaps = missing(present, total);
        if (gaps.isEmpty()) {
            return Optional.empty();
        }
        long count = gaps.stream().mapToLong(Range::size).sum();
        List<String> parts = new ArrayList<>();
        for (Range r : gaps.subList(0, Math.min(SHOWN, gaps.size()))) {
            parts.add(r.size() == 1 ? Long.toString(r.first())
                    : r.size() == 2 ? r.first() + ", " + r.last() : r.first() + ".." + r.last());
        }
        if (gaps.size() > SHOWN) {
            parts.add("... " + (gaps.size() - SHOWN) + " more ranges");
        }
        boolean listed = gaps.size() <= SHOWN && gaps.stream().allMatch(r -> r.size() <= 2);
        long held = present.headSet(total).size();
        return Optional.of(unit + (count == 1 ? " " : "s ") + String.join(", ", parts) + " missing"
                + (listed ? "" : String.format(Locale.ROOT, " (%,d %ss)", count, unit)) + ": " + claim + ", " + holders
                + " hold " + held + " " + unit + (held == 1 ? "" : "s"));
    }

    /** Ranges listed in a message; the rest are counted. */
    private static final int SHOWN = 8;
}
