package dev.ckptdiff.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffReport;
import dev.ckptdiff.diff.ReportJson;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.locate.RunRoot;
import dev.ckptdiff.report.Drift;
import dev.ckptdiff.report.Heatmap;
import dev.ckptdiff.report.HtmlReport;

/** Step-over-step drift in the CLI: when it applies, its exit code, its text and JSON, and --drift over a run. */
final class DriftOutput {
    private DriftOutput() {
    }

    /**
     * A drift per comparison when asked for, or when every pair is visibly two steps of one run and they differ (two
     * equal steps read best as the plain SAME report); else none.
     */
    static List<Drift> drifts(DiffReport r, boolean asked) {
        boolean steps = !r.comparisons().isEmpty() && r.comparisons().stream().allMatch(Drift::betweenSteps);
        return asked || (steps && r.findings() > 0) ? r.comparisons().stream().map(Drift::of).toList() : List.of();
    }

    /** --expect-change: 0 only when every pair trained soundly; otherwise the report's own code. */
    static int exitCode(DiffReport r, List<Drift> drifts, boolean expectChange) {
        if (!expectChange) {
            return r.exitCode();
        }
        return drifts.stream().allMatch(Drift::healthyChange) ? 0 : DiffReport.FINDINGS;
    }

    static ObjectNode json(ObjectNode root, List<Drift> drifts, int exit) {
        if (!drifts.isEmpty()) {
            var arr = root.putArray("drift");
            drifts.forEach(d -> arr.add(d.toJson()));
            root.put("exit_code", exit);
        }
        return root;
    }

    static void print(DiffCommand.TextReport text, PrintWriter out, List<Drift> drifts, int exit, boolean expectChange) {
        for (Drift d : drifts) {
            Comparison c = d.comparison();
            out.println("A: " + Text.safe(c.labelA()) + "  " + Text.safe(String.valueOf(c.pathA())));
            out.println("B: " + Text.safe(c.labelB()) + "  " + Text.safe(String.valueOf(c.pathB())));
            d.lines().forEach(l -> out.println(Text.safe(l)));
            Text.table(d.table()).forEach(l -> out.println("  " + Text.safe(l)));
            out.println();
        }
        boolean nothing = drifts.stream().allMatch(Drift::nothingChanged);
        String verdict = nothing ? "NOTHING CHANGED" : "CHANGED";
        out.println((exit == 0 ? text.c("bold,green", verdict) : text.c("bold,red", verdict)) + ": "
                + drifts.stream().mapToLong(d -> d.moved().size()).sum() + " tensor(s) changed in " + drifts.size()
                + " comparison(s)" + (expectChange ? (exit == 0 ? "; the step trained" : "; expected a sound change") : ""));
    }

    /** --drift over a run's checkpoint root: every pair of consecutive complete steps, oldest first. */
    static int acrossSteps(DiffCommand cmd, List<RunRoot.Step> newestFirst, Tolerance tol, int nThreads) throws IOException {
        PrintWriter out = cmd.spec.commandLine().getOut();
        List<RunRoot.Step> steps = new ArrayList<>(newestFirst.reversed());
        List<String> transitions = new ArrayList<>();
        List<Drift> drifts = new ArrayList<>();
        List<String> summary = new ArrayList<>();
        RunRoot.Step prev = null;
        for (RunRoot.Step st : steps) {
            var incomplete = RunRoot.incomplete(st.dir());
            if (incomplete.isPresent()) {
                summary.add(st.name() + ": skipped, incomplete: " + incomplete.get());
                continue;
            }
            if (prev != null) {
                DiffReport r = cmd.compare(List.of(prev.dir(), st.dir()), tol, nThreads);
                Drift d = Drift.of(r.comparisons().getFirst());
                transitions.add(prev.number() + "->" + st.number());
                drifts.add(d);
                summary.addAll(d.lines());
            }
            prev = st;
        }
        if (drifts.isEmpty()) {
            throw new BadInputException(cmd.paths.getFirst() + ": --drift needs two complete steps, found "
                    + steps.size() + " step folder(s)");
        }
        Heatmap h = Drift.acrossSteps(transitions, drifts);
        int exit = drifts.stream().allMatch(d -> cmd.expectChange ? d.healthyChange()
                : d.nonFiniteAppeared().isEmpty() && d.structural().isEmpty()) ? 0 : DiffReport.FINDINGS;
        boolean jsonToStdout = cmd.json != null && cmd.json.toString().equals("-");
        if (!jsonToStdout) {
            out.println("Run " + Text.safe(cmd.paths.getFirst().toString()) + ": update size ||B-A||/||A|| of each layer's"
                    + " most-changed tensor, per pair of consecutive steps (0: bitwise unchanged)");
            List<String[]> rows = new ArrayList<>();
            List<String> header = new ArrayList<>(List.of("layer"));
            header.addAll(transitions);
            rows.add(header.toArray(String[]::new));
            for (String row : h.rows()) {
                List<String> r = new ArrayList<>(List.of(row));
                for (String t : transitions) {
                    r.add(h.cells().stream().filter(c -> c.row().equals(row) && c.column().equals(t)).findFirst()
                            .map(c -> Drift.fmt(c.value())).orElse(""));
                }
                rows.add(r.toArray(String[]::new));
            }
            Text.table(rows).forEach(l -> out.println("  " + Text.safe(l)));
            out.println();
            summary.forEach(l -> out.println(Text.safe(l)));
        }
        if (cmd.json != null) {
            ObjectNode root = InspectCommand.Json.MAPPER.createObjectNode();
            root.put("schema_version", ReportJson.SCHEMA_VERSION);
            root.put("run", cmd.paths.getFirst().toString());
            var arr = root.putArray("drift");
            for (int i = 0; i < drifts.size(); i++) {
                arr.add(drifts.get(i).toJson().put("transition", transitions.get(i)));
            }
            root.put("exit_code", exit);
            cmd.emitJson(root);
        }
        if (cmd.html != null) {
            DiffCommand.writeAtomically(cmd.html, HtmlReport.renderSteps(cmd.paths.getFirst().toString(), h, summary));
        }
        return exit;
    }

}
