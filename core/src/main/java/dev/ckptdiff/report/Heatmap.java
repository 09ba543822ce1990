package dev.ckptdiff.report;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

import dev.ckptdiff.diff.TensorResult;

/**
 * A grid of cells, each holding the tensors that fall into it and coloured by the worst of them. Built once per
 * report in one pass, so 18,000 tensors cost a map lookup each.
 */
public record Heatmap(List<String> rows, List<String> columns, List<Cell> cells) {

    /** The tensors of one cell, worst first, and the cell's value (the worst tensor's). */
    public record Cell(String row, String column, List<Entry> entries) {
        public Entry worst() {
            return entries.getFirst();
        }

        public double value() {
            return worst().value();
        }
    }

    /** One tensor (or one stored piece of it) in a cell. */
    public record Entry(TensorResult tensor, double value, String detail) {
    }

    /** Worst first: the higher value, and at equal values the graver verdict. */
    static final Comparator<Entry> WORST_FIRST = Comparator.comparingDouble(Entry::value).reversed()
            .thenComparing(e -> e.tensor().verdict(), Comparator.reverseOrder());

    /** Layers down, tensor kinds across. */
    public static Heatmap byLayer(List<TensorResult> tensors, Metric metric) {
        Map<TensorKinds.Place, List<Entry>> byPlace = new TreeMap<>(Comparator
                .comparing((TensorKinds.Place p) -> p.layer() < 0 ? 1 : 0) // layers first, then what belongs to none
                .thenComparing(TensorKinds.Place::stack)
                .thenComparingInt(TensorKinds.Place::layer)
                .thenComparingInt(p -> TensorKinds.ORDER.indexOf(p.column())));
        for (TensorResult t : tensors) {
            byPlace.computeIfAbsent(TensorKinds.of(t.name()), k -> new ArrayList<>()).add(new Entry(t, metric.of(t), ""));
        }
        return build(byPlace, TensorKinds.Place::row, TensorKinds.Place::column);
    }

    /**
     * Rows by the file a differing piece is stored in on a side that has more than one file per tensor (a Megatron
     * rank folder: one per TP/PP/EP rank), tensor kinds across. Only pieces that differ are placed; empty when no
     * such side differs anywhere.
     */
    public static Heatmap byFile(List<TensorResult> tensors, Metric metric) {
        record FilePlace(String file, String column) {
        }
        Map<FilePlace, List<Entry>> byPlace = new TreeMap<>(Comparator.comparing(FilePlace::file)
                .thenComparingInt(p -> TensorKinds.ORDER.indexOf(p.column())));
        for (TensorResult t : tensors) {
            String column = TensorKinds.of(t.name()).column();
            for (TensorResult.Where w : t.where()) {
                for (var side : List.of(Map.entry("A", w.a()), Map.entry("B", w.b()))) {
                    String file = side.getValue().file();
                    if (!isRankFile(file)) {
                        continue;
                    }
                    String detail = side.getKey() + " " + side.getValue().describe() + ": " + w.differing() + " differ, "
                            + w.overTol() + " over tolerance" + (w.nonFinite() > 0 ? ", " + w.nonFinite() + " non-finite" : "");
                    byPlace.computeIfAbsent(new FilePlace(side.getKey() + " " + file, column), k -> new ArrayList<>())
                            .add(new Entry(t, metric.of(t), detail));
                }
            }
        }
        return build(byPlace, FilePlace::file, FilePlace::column);
    }

    /** Megatron's per-rank files live in mp_rank_* folders; HF files are whole tensors and say nothing by rank. */
    static boolean isRankFile(String file) {
        return file.startsWith("mp_rank_") || file.contains("/mp_rank_") || file.endsWith(".distcp");
    }

    private static <P> Heatmap build(Map<P, List<Entry>> byPlace, Function<P, String> row, Function<P, String> column) {
        Map<String, Boolean> rows = new LinkedHashMap<>();
        Map<String, Boolean> present = new LinkedHashMap<>();
        List<Cell> cells = new ArrayList<>();
        for (Map.Entry<P, List<Entry>> e : byPlace.entrySet()) {
            List<Entry> entries = new ArrayList<>(e.getValue());
            entries.sort(WORST_FIRST);
            String r = row.apply(e.getKey());
            String c = column.apply(e.getKey());
            rows.put(r, true);
            present.put(c, true);
            cells.add(new Cell(r, c, List.copyOf(entries)));
        }
        List<String> columns = TensorKinds.ORDER.stream().filter(present::containsKey).toList();
        return new Heatmap(List.copyOf(rows.keySet()), columns, cells);
    }

    /** The hottest cell (ties: the graver verdict, then the first in reading order), or null when there is none. */
    public Cell hottest() {
        Cell best = null;
        for (Cell c : cells) {
            if (best == null || WORST_FIRST.compare(c.worst(), best.worst()) < 0) {
                best = c;
            }
        }
        return best;
    }

    public boolean isEmpty() {
        return cells.isEmpty();
    }
}
