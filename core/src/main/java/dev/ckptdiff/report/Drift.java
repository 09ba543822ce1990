package dev.ckptdiff.report;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Verdict;

/**
 * Step-over-step drift: the same model at two training steps (A the earlier), summarised by how far each layer
 * and tensor kind moved (||B-A||/||A||) rather than by a list of tensors that "differ", which between two steps
 * is every tensor that trained.
 */
public record Drift(Comparison comparison, Heatmap cells, List<Moved> moved, double median, List<String> unchangedRows,
                    List<TensorResult> nonFiniteAppeared, List<TensorResult> structural) {

    /** A tensor and its update size. */
    public record Moved(TensorResult tensor, double update) {
    }

    private static final Pattern STEP = Pattern.compile("(?:global_step_|iter_|checkpoint-)(\\d{1,18})");

    /** The training step a path names (its last global_step_N, iter_N or checkpoint-N component), if any. */
    public static OptionalLong step(Path p) {
        for (Path q = p; q != null && q.getFileName() != null; q = q.getParent()) {
            Matcher m = STEP.matcher(q.getFileName().toString());
            if (m.matches()) {
                return OptionalLong.of(Long.parseLong(m.group(1)));
            }
        }
        return OptionalLong.empty();
    }

    /** True when the two copies are visibly two different steps of one run. */
    public static boolean betweenSteps(Comparison c) {
        OptionalLong a = step(c.pathA());
        OptionalLong b = step(c.pathB());
        return a.isPresent() && b.isPresent() && a.getAsLong() != b.getAsLong();
    }

    public static Drift of(Comparison c) {
        List<TensorResult> tensors = c.outcome().tensors();
        List<Moved> moved = new ArrayList<>();
        List<TensorResult> nonFinite = new ArrayList<>();
        List<TensorResult> structural = new ArrayList<>();
        List<Double> updates = new ArrayList<>(); // of the tensors that changed: most of a model may stay frozen
        for (TensorResult t : tensors) {
            var s = t.stats();
            switch (t.verdict()) {
                case ONLY_IN_A, ONLY_IN_B, SHAPE_MISMATCH, DTYPE_MISMATCH -> structural.add(t);
                default -> {
                    double u = Metric.update(s);
                    if (t.verdict() != Verdict.IDENTICAL) {
                        updates.add(u);
                        moved.add(new Moved(t, u));
                    }
                    // B is the later step: a NaN or Inf it has and A had not appeared during training
                    if (s.nanB > s.nanA || s.infB > s.infA) {
                        nonFinite.add(t);
                    }
                }
            }
        }
        moved.sort(Comparator.comparingDouble(Moved::update).reversed());
        updates.sort(null);
        double median = updates.isEmpty() ? 0 : updates.size() % 2 == 1 ? updates.get(updates.size() / 2)
                : (updates.get(updates.size() / 2 - 1) + updates.get(updates.size() / 2)) / 2;
        Heatmap h = Heatmap.byLayer(tensors, Metric.UPDATE);
        Map<String, Boolean> changedRow = new java.util.LinkedHashMap<>();
        h.rows().forEach(r -> changedRow.put(r, false));
        for (Heatmap.Cell cell : h.cells()) {
            if (cell.entries().stream().anyMatch(e -> e.tensor().verdict() != Verdict.IDENTICAL)) {
                changedRow.put(cell.row(), true);
            }
        }
        List<String> unchanged = changedRow.entrySet().stream().filter(e -> !e.getValue()).map(Map.Entry::getKey).toList();
        return new Drift(c, h, List.copyOf(moved), median, unchanged, List.copyOf(nonFinite), List.copyOf(structural));
    }

    public boolean nothingChanged() {
        return moved.isEmpty() && structural.isEmpty();
    }

    /** For CI of training runs: the step trained (something moved), nothing became non-finite, the model kept its shape. */
    public boolean healthyChange() {
        return !moved.isEmpty() && nonFiniteAppeared.isEmpty() && structural.isEmpty();
    }

    /** The summary a person reads first: median and extremes, what did not move, what went non-finite. */
    public List<String> lines() {
        List<String> out = new ArrayList<>();
        int n = comparison.outcome().tensors().size();
        out.add(String.format(Locale.ROOT, "Drift %s -> %s: %d of %d tensors changed%s",
                stepName(comparison.pathA()), stepName(comparison.pathB()), moved.size(), n,
                moved.isEmpty() ? "" : "; update size ||B-A||/||A|| of those: median " + fmt(median)));
        if (!moved.isEmpty()) {
            out.add("  largest: " + extremes(moved.subList(0, Math.min(3, moved.size()))));
            List<Moved> smallest = new ArrayList<>(moved.subList(Math.max(0, moved.size() - 3), moved.size()));
            java.util.Collections.reverse(smallest);
            out.add("  smallest change: " + extremes(smallest));
        }
        out.add("  bitwise unchanged: " + (unchangedRows.isEmpty() ? "no layer" : String.join(", ", unchangedRows))
                + (moved.isEmpty() ? " (nothing changed at all)" : ""));
        out.add("  non-finite values appeared: " + (nonFiniteAppeared.isEmpty() ? "none" : nonFiniteAppeared.stream()
                .map(t -> t.name() + String.format(Locale.ROOT, " (NaN %d->%d, Inf %d->%d)", t.stats().nanA, t.stats().nanB,
                        t.stats().infA, t.stats().infB)).reduce((x, y) -> x + ", " + y).orElse("")));
        if (!structural.isEmpty()) {
            out.add("  not comparable: " + structural.stream().map(t -> t.name() + " (" + t.verdict().label() + ")")
                    .reduce((x, y) -> x + ", " + y).orElse(""));
        }
        return out;
    }

    /** Layers down, tensor kinds across, the largest update in each cell ("0": bitwise unchanged); first row the header. */
    public List<String[]> table() {
        List<String[]> rows = new ArrayList<>();
        List<String> header = new ArrayList<>(List.of("update"));
        header.addAll(cells.columns());
        rows.add(header.toArray(String[]::new));
        Map<String, Heatmap.Cell> byKey = new java.util.HashMap<>();
        cells.cells().forEach(c -> byKey.put(c.row() + "|" + c.column(), c));
        for (String r : cells.rows()) {
            List<String> row = new ArrayList<>(List.of(r));
            for (String col : cells.columns()) {
                Heatmap.Cell c = byKey.get(r + "|" + col);
                row.add(c == null ? "" : fmt(c.value()));
            }
            rows.add(row.toArray(String[]::new));
        }
        return rows;
    }

    /**
     * Rows of layers (and global), one column per step transition ("10->20"), each cell the largest update of any
     * tensor in that layer across that transition: the picture of a run's training over its saved steps.
     */
    public static Heatmap acrossSteps(List<String> transitions, List<Drift> drifts) {
        Map<String, Boolean> rows = new java.util.LinkedHashMap<>();
        drifts.forEach(d -> d.cells().rows().forEach(r -> rows.put(r, true)));
        List<Heatmap.Cell> cells = new ArrayList<>();
        for (String row : rows.keySet()) {
            for (int i = 0; i < drifts.size(); i++) {
                String label = transitions.get(i);
                List<Heatmap.Entry> entries = new ArrayList<>();
                for (Heatmap.Cell c : drifts.get(i).cells().cells()) {
                    if (c.row().equals(row)) {
                        c.entries().forEach(e -> entries.add(new Heatmap.Entry(e.tensor(), e.value(), label)));
                    }
                }
                if (!entries.isEmpty()) {
                    entries.sort(Heatmap.WORST_FIRST);
                    cells.add(new Heatmap.Cell(row, label, List.copyOf(entries)));
                }
            }
        }
        return new Heatmap(List.copyOf(rows.keySet()), List.copyOf(transitions), cells);
    }

    private static String extremes(List<Moved> ms) {
        return ms.stream().map(m -> m.tensor().name() + " " + fmt(m.update())).reduce((x, y) -> x + ", " + y).orElse("");
    }

    private static String stepName(Path p) {
        OptionalLong s = step(p);
        return s.isPresent() ? "step " + s.getAsLong() : String.valueOf(p.getFileName());
    }

    public static String fmt(double v) {
        return v == 0 ? "0" : Double.isFinite(v) ? String.format(Locale.ROOT, "%.3g", v) : Double.toString(v);
    }

    public ObjectNode toJson() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode o = f.objectNode();
        step(comparison.pathA()).ifPresent(s -> o.put("step_a", s));
        step(comparison.pathB()).ifPresent(s -> o.put("step_b", s));
        o.put("changed", moved.size());
        o.put("median_update", Double.isFinite(median) ? median : 0);
        var arr = o.putArray("moved");
        for (Moved m : moved) {
            ObjectNode x = arr.addObject();
            x.put("name", m.tensor().name());
            if (Double.isFinite(m.update())) {
                x.put("update", m.update());
            } else {
                x.put("update", Double.toString(m.update()));
            }
        }
        unchangedRows.forEach(o.putArray("unchanged_rows")::add);
        nonFiniteAppeared.forEach(t -> o.withArray("non_finite_appeared").add(t.name()));
        o.put("nothing_changed", nothingChanged());
        return o;
    }
}
