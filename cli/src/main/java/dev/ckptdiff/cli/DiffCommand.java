package dev.ckptdiff.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Help.Ansi;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.ComputeEngine;
import dev.ckptdiff.diff.DiffJob;
import dev.ckptdiff.diff.DiffReport;
import dev.ckptdiff.diff.DtypeCounts;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.EngineProvider;
import dev.ckptdiff.diff.ExpertGroups;
import dev.ckptdiff.diff.ReportJson;
import dev.ckptdiff.diff.ScalarEngine;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.diff.VectorEngine;
import dev.ckptdiff.diff.Verdict;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.InputPaths;
import dev.ckptdiff.locate.RunRoot;
import dev.ckptdiff.report.Drift;
import dev.ckptdiff.report.HtmlReport;
import dev.ckptdiff.report.Metric;
import dev.ckptdiff.shard.Shard;
import dev.ckptdiff.shard.ShardPlan;
import dev.ckptdiff.shard.ShardReport;
import dev.ckptdiff.tensor.Shapes;

@Command(name = "ckpt-diff", mixinStandardHelpOptions = true, versionProvider = DiffCommand.Version.class,
        usageHelpAutoWidth = true,
        description = {"Compare the HF and Megatron copies of a checkpoint, tensor by tensor, down to the shard and element.",
                "",
                "  ckpt-diff STEP_DIR   each role's HF copy against its Megatron copy",
                "  ckpt-diff A B        two copies: HF, Megatron or step folders",
                "  ckpt-diff --optimizer STEP_DIR   fp32 masters in distrib_optim.pt against the weights",
                "",
                "Exit codes: 0 identical or within tolerance, 1 differences found, 2 bad input or usage."})
final class DiffCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..2", paramLabel = "PATH", description = "A global_step_* or actor/ folder, or two copies to compare.")
    List<Path> paths;

    @Option(names = "--atol", defaultValue = "" + Tolerance.DEFAULT_ATOL,
            description = "Absolute tolerance (default: ${DEFAULT-VALUE}). Same when |a-b| <= atol + rtol*max(|a|,|b|).")
    double atol;

    @Option(names = "--rtol", defaultValue = "" + Tolerance.DEFAULT_RTOL,
            description = "Relative tolerance (default: ${DEFAULT-VALUE}); admits bf16/fp16/fp32 re-rounding.")
    double rtol;

    @Option(names = "--engine", defaultValue = "vector",
            description = "Compute engine: vector (Java Vector API, default), torch (libtorch via DJL), scalar (reference).")
    String engine;

    @Option(names = "--device", defaultValue = "cpu", description = "Device for --engine torch: cpu or gpu (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", description = "Worker threads (default: number of cores).")
    Integer threads;

    @Option(names = "--all", description = "List every tensor, not only those that differ.")
    boolean all;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write every metric as JSON to FILE ('-' for stdout).")
    Path json;

    @Option(names = "--html", paramLabel = "FILE",
            description = "Also write a self-contained HTML report (verdict, findings, per-layer heatmaps) to FILE.")
    Path html;

    @Option(names = "--drift", description = "Two steps of one run (A earlier): lead with the update size per layer and kind;"
            + " with a run's checkpoint root: the update size per layer across every pair of consecutive steps.")
    boolean drift;

    @Option(names = "--expect-change", description = "With two steps: exit 1 when nothing changed (or a value became"
            + " non-finite, or a tensor appeared, vanished or changed shape), 0 when the step trained.")
    boolean expectChange;

    @Option(names = "--shard", paramLabel = "I/N", description = "Compare only part I of N (0 <= I < N; balanced by bytes,"
            + " the same split on every node) and write it with --json FILE for 'ckpt-diff merge'.")
    String shard;

    /** With --shard: what the part's JSON needs beyond the ordinary report (set by compare). */
    private String shardFingerprint;
    private final List<List<Integer>> shardCheckOrders = new ArrayList<>();

    @Option(names = "--strict-dtype", description = "Treat different dtypes as a finding even when values agree.")
    boolean strictDtype;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @Option(names = "--timings", description = "Print the time each phase took to stderr.")
    boolean timings;

    @Option(names = "--color", defaultValue = "auto", description = "auto, always or never (default: ${DEFAULT-VALUE}).")
    String color;

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = DiffCommand.class.getPackage().getImplementationVersion();
            return new String[]{"ckpt-diff " + (v == null ? "0.1.0" : v), "Java " + Runtime.version()};
        }
    }

    @Option(names = "--optimizer", description = "Check STEP_DIR's distributed-optimizer state instead: do the fp32"
            + " masters in distrib_optim.pt round to the weights beside them (bitwise), are the moments finite.")
    boolean optimizer;

    @Option(names = "--latest", description = "With a run's checkpoint root (global_step_* folders): only the newest step.")
    boolean latest;

    @Override
    public Integer call() throws IOException {
        if (paths == null || paths.isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "Missing required parameter: 'PATH'");
        }
        if (atol < 0 || rtol < 0 || !Double.isFinite(atol) || !Double.isFinite(rtol)) {
            throw new BadInputException("--atol and --rtol must be finite and non-negative");
        }
        int nThreads = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
        if (nThreads < 1) {
            throw new BadInputException("--threads must be at least 1");
        }
        if (optimizer) {
            if (paths.size() != 1) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--optimizer takes one STEP_DIR");
            }
            if (json != null) {
                throw new BadInputException("--json FILE is not written with --optimizer; use 'ckpt-diff check --optimizer"
                        + " --json STEP_DIR'");
            }
            List<RunRoot.Step> steps = RunRoot.steps(paths.getFirst());
            if (steps.isEmpty()) {
                return OptimizerOutput.report(spec.commandLine().getOut(), dev.ckptdiff.optim.OptimizerCheck.run(paths.getFirst()));
            }
            int rc = 0; // a run's checkpoint root: every step, newest first
            for (RunRoot.Step st : latest ? steps.subList(0, 1) : steps) {
                rc = Math.max(rc, OptimizerOutput.report(spec.commandLine().getOut(), dev.ckptdiff.optim.OptimizerCheck.run(st.dir())));
            }
            return rc;
        }
        Tolerance tol = new Tolerance(atol, rtol);
        refuseReportsOverInputs(paths, json, html); // a report must never replace what it compares
        if (paths.size() == 1) {
            List<RunRoot.Step> steps = RunRoot.steps(paths.getFirst());
            if (!steps.isEmpty() && shard != null) {
                throw new BadInputException("--shard takes one step folder or two copies, not a run's checkpoint root");
            }
            if (!steps.isEmpty() && html != null && !drift && !expectChange) {
                throw new BadInputException("--html with a run's checkpoint root needs --drift; for one step's report name"
                        + " its folder: " + steps.getFirst().dir());
            }
            if (!steps.isEmpty()) {
                return drift || expectChange ? DriftOutput.acrossSteps(this, steps, tol, nThreads) : compareSteps(steps, tol, nThreads);
            }
            if (drift || expectChange) {
                throw new BadInputException(paths.getFirst() + ": --drift and --expect-change take two steps (A B) or a run's"
                        + " checkpoint root (a folder of global_step_* folders)");
            }
        }
        if (latest) {
            throw new BadInputException("--latest takes a run's checkpoint root, a folder holding global_step_* folders");
        }
        if (shard != null && json == null) {
            throw new BadInputException("--shard writes its part with --json FILE (for 'ckpt-diff merge')");
        }
        long t0 = System.nanoTime();
        DiffReport report = compare(paths, tol, nThreads);
        PrintWriter out = spec.commandLine().getOut();
        boolean jsonToStdout = json != null && json.toString().equals("-");
        List<Drift> drifts = DriftOutput.drifts(report, drift || expectChange);
        int exit = DriftOutput.exitCode(report, drifts, expectChange);
        if (json != null && shard != null) {
            emitJson(ShardReport.of(report, Shard.parse(shard), shardFingerprint, shardCheckOrders));
        } else if (json != null) {
            emitJson(DriftOutput.json(ReportJson.of(report), drifts, exit));
        }
        if (html != null) {
            writeAtomically(html, HtmlReport.render(report, drifts.isEmpty() ? Metric.REL_L2 : Metric.UPDATE));
        }
        if (!jsonToStdout) {
            Ansi ansi = ansi();
            SafeWriter.allowColour(out, ansi.enabled());
            if (drifts.isEmpty()) {
                new TextReport(out, ansi, all).print(report);
            } else {
                DriftOutput.print(new TextReport(out, ansi, all), out, drifts, exit, expectChange);
            }
        }
        if (timings) {
            PrintWriter err = spec.commandLine().getErr();
            err.printf(Locale.ROOT, "timings: main to command %.3f s (JVM uptime at main %d ms)%n", (t0 - Main.START) / 1e9, java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime() - (System.nanoTime() - Main.START) / 1_000_000);
            for (Comparison c : report.comparisons()) {
                c.timings().phases().forEach((k, v) -> err.printf(Locale.ROOT, "timings: %-26s %.3f s%n", k, v));
            }
            err.printf(Locale.ROOT, "timings: total in main %.3f s%n", (System.nanoTime() - t0) / 1e9);
        }
        return exit;
    }

    /** Opens, maps and compares every pair the paths name. */
    DiffReport compare(List<Path> inputs, Tolerance tol, int nThreads) {
        long t0 = System.nanoTime();
        List<DiffJob.Prepared> prepared = new ArrayList<>();
        try {
            for (DiffJob.Pair p : DiffJob.pairs(inputs)) {
                prepared.add(DiffJob.prepare(p));
            }
        } catch (RuntimeException e) {
            prepared.forEach(DiffJob.Prepared::close);
            throw e;
        }
        if (shard != null) {
            Shard part = Shard.parse(shard);
            shardFingerprint = ShardPlan.fingerprint(prepared, tol, strictDtype, part.count());
            shardCheckOrders.clear();
            for (int i = 0; i < prepared.size(); i++) {
                ShardPlan.Part p = ShardPlan.restrict(prepared.get(i), part);
                prepared.set(i, p.prepared());
                shardCheckOrders.add(p.checkOrder());
            }
        }
        List<Comparison> comparisons = new ArrayList<>();
        try (ComputeEngine eng = engine(); Progress progress = new Progress(SafeWriter.raw(spec.commandLine().getErr()), !noProgress)) {
            Differ differ = new Differ(eng, new Differ.Options(tol, strictDtype, nThreads), progress);
            for (DiffJob.Prepared p : prepared) {
                comparisons.add(DiffJob.compare(p, differ, progress::addTotal));
            }
        } finally {
            prepared.forEach(DiffJob.Prepared::close); // no-op for those compared; frees the rest on error
        }
        return new DiffReport(inputs.stream().map(Path::toString).toList(), engine, tol, nThreads,
                comparisons, (System.nanoTime() - t0) / 1e9);
    }

    /** What became of one step of a run's checkpoint root. */
    private record StepOutcome(RunRoot.Step step, String status, int exit, DiffReport report, String problem) {
    }

    /**
     * A run's checkpoint root: every step's copies verified, newest first, one line a step as it is done, then the
     * findings of the steps that differ. A step still being written is reported as incomplete and not read; a step
     * that cannot be read is an error; the exit code is the worst of all steps.
     */
    private int compareSteps(List<RunRoot.Step> steps, Tolerance tol, int nThreads) throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        boolean jsonToStdout = json != null && json.toString().equals("-");
        PrintWriter lines = jsonToStdout ? err : out;
        Ansi ansi = ansi();
        SafeWriter.allowColour(out, ansi.enabled() && !jsonToStdout);
        TextReport text = new TextReport(out, jsonToStdout ? Ansi.OFF : ansi, all);
        List<RunRoot.Step> chosen = latest ? steps.subList(0, 1) : steps;
        lines.println("Run " + Text.safe(paths.getFirst().toString()) + ": " + steps.size() + " step(s)"
                + (latest ? ", newest only" : ", newest first"));
        List<StepOutcome> outcomes = new ArrayList<>();
        int width = chosen.stream().mapToInt(st -> st.name().length()).max().orElse(0);
        for (RunRoot.Step st : chosen) {
            StepOutcome o;
            var incomplete = RunRoot.incomplete(st.dir());
            if (incomplete.isPresent()) {
                o = new StepOutcome(st, "INCOMPLETE", DiffReport.FINDINGS, null, incomplete.get());
            } else {
                try {
                    DiffReport r = compare(List.of(st.dir()), tol, nThreads);
                    o = new StepOutcome(st, r.exitCode() == 0 ? "SAME" : "DIFFERENT", r.exitCode(), r, null);
                } catch (BadInputException e) {
                    o = new StepOutcome(st, "ERROR", DiffReport.BAD_INPUT, null, e.getMessage());
                }
            }
            outcomes.add(o);
            String status = switch (o.status()) {
                case "SAME" -> text.c("bold,green", o.status());
                case "INCOMPLETE" -> text.c("bold,yellow", o.status());
                default -> text.c("bold,red", o.status());
            };
            lines.println("  " + st.name() + " ".repeat(width - st.name().length() + 2) + status
                    + " ".repeat(12 - o.status().length()) + Text.safe(o.report() != null ? stepSummary(o.report()) : o.problem()));
            lines.flush();
        }
        int exit = outcomes.stream().mapToInt(StepOutcome::exit).max().orElse(0);
        if (!jsonToStdout) {
            for (StepOutcome o : outcomes) {
                if (o.report() != null && o.exit() != 0) {
                    out.println();
                    out.println(text.c("bold", "== " + o.step().name() + " =="));
                    text.print(o.report());
                }
            }
            long differ = outcomes.stream().filter(o -> o.status().equals("DIFFERENT")).count();
            long incomplete = outcomes.stream().filter(o -> o.status().equals("INCOMPLETE")).count();
            long errors = outcomes.stream().filter(o -> o.status().equals("ERROR")).count();
            out.println();
            out.printf(Locale.ROOT, "%s: %d step(s) checked: %d same, %d different, %d incomplete, %d unreadable%n",
                    exit == 0 ? text.c("bold,green", "SAME") : text.c("bold,red", exit == 1 && differ == 0 ? "NOT VERIFIED" : "DIFFERENT"),
                    outcomes.size(), outcomes.size() - differ - incomplete - errors, differ, incomplete, errors);
        }
        if (json != null) {
            var root = InspectCommand.Json.MAPPER.createObjectNode();
            root.put("schema_version", ReportJson.SCHEMA_VERSION);
            root.put("run", paths.getFirst().toString());
            var arr = root.putArray("steps");
            for (StepOutcome o : outcomes) {
                var n = arr.addObject();
                n.put("step", o.step().number());
                n.put("path", o.step().dir().toString());
                n.put("status", o.status().toLowerCase(Locale.ROOT));
                n.put("exit_code", o.exit());
                if (o.problem() != null) {
                    n.put("problem", o.problem());
                }
                if (o.report() != null) {
                    n.set("report", ReportJson.of(o.report()));
                }
            }
            root.put("exit_code", exit);
            emitJson(root);
        }
        return exit;
    }

    /** "actor: 39 tensors: 9 identical, 30 within tolerance" for each comparison of a step. */
    private static String stepSummary(DiffReport r) {
        StringBuilder sb = new StringBuilder();
        for (Comparison c : r.comparisons()) {
            sb.append(sb.isEmpty() ? "" : "; ").append(c.labelB()).append(" vs ").append(c.labelA()).append(": ")
                    .append(c.outcome().tensors().size()).append(" tensors: ").append(TextReport.verdictCounts(c, v -> v.label()));
            if (c.dtypes().differ()) {
                sb.append(" (dtypes differ)");
            }
        }
        return sb.toString();
    }

    void emitJson(com.fasterxml.jackson.databind.JsonNode node) throws IOException {
        String textJson = InspectCommand.Json.MAPPER.writeValueAsString(node);
        if (json.toString().equals("-")) {
            spec.commandLine().getOut().println(textJson);
        } else {
            writeAtomically(json, textJson);
        }
    }

    Ansi ansi() {
        return switch (color.toLowerCase(Locale.ROOT)) {
            case "always" -> Ansi.ON;
            case "never" -> Ansi.OFF;
            case "auto" -> System.console() != null && System.getenv("NO_COLOR") == null ? Ansi.AUTO : Ansi.OFF;
            default -> throw new BadInputException("--color takes auto, always or never, not '" + color + "'");
        };
    }

    private ComputeEngine engine() {
        return switch (engine) {
            case "vector" -> new VectorEngine();
            case "scalar" -> ScalarEngine.INSTANCE;
            default -> {
                if (!device.equals("cpu") && !device.equals("gpu")) {
                    throw new BadInputException("--device takes cpu or gpu, not '" + device + "'");
                }
                for (EngineProvider p : ServiceLoader.load(EngineProvider.class)) {
                    if (p.name().equals(engine)) {
                        yield p.create(device);
                    }
                }
                throw new BadInputException("--engine " + engine + " is not available (engines: vector, scalar"
                        + (ServiceLoader.load(EngineProvider.class).stream().map(pr -> ", " + pr.get().name())
                        .reduce("", String::concat)) + ")");
            }
        };
    }

    /** Refuses a --json or --html file that is, or lies inside, one of the inputs (checked before any work). */
    static void refuseReportsOverInputs(List<Path> inputs, Path json, Path html) {
        InputPaths in = InputPaths.of(inputs);
        if (json != null && !json.toString().equals("-")) {
            in.refuseOverlap("--json", json);
        }
        if (html != null) {
            in.refuseOverlap("--html", html);
        }
    }

    /** Outputs appear whole or not at all: write beside the target, then rename over it. */
    static void writeAtomically(Path target, String text) throws IOException {
        Path abs = target.toAbsolutePath();
        Path tmp = abs.resolveSibling("." + abs.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            Files.writeString(tmp, text + "\n");
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw new BadInputException(target + ": cannot write the report: " + e.getMessage());
        }
    }

    /** The human report: verdict first, then the worst tensors with their sources, then a table by layer. */
    static final class TextReport {
        private final PrintWriter out;
        private final Ansi ansi;
        private final boolean all;

        TextReport(PrintWriter out, Ansi ansi, boolean all) {
            this.out = out;
            this.ansi = ansi;
            this.all = all;
        }

        /** "9 identical, 30 within tolerance": how many tensors got each verdict, in verdict order. */
        static String verdictCounts(Comparison cmp, java.util.function.Function<Verdict, String> label) {
            StringBuilder sb = new StringBuilder();
            for (Verdict v : Verdict.values()) {
                long n = cmp.count(v);
                if (n > 0) {
                    sb.append(sb.isEmpty() ? "" : ", ").append(n).append(' ').append(label.apply(v));
                }
            }
            return sb.toString();
        }

        String c(String style, String text) {
            return ansi.string("@|" + style + " " + text.replace("|@", "| @") + "|@");
        }

        void print(DiffReport r) {
            for (Comparison cmp : r.comparisons()) {
                comparison(cmp);
            }
            String verdict = r.findings() == 0 ? c("bold,green", "SAME") : c("bold,red", "DIFFERENT");
            out.printf(Locale.ROOT, "%s: %d finding(s) in %d comparison(s), %.2f s, engine %s, atol %s rtol %s%n", verdict,
                    r.findings(), r.comparisons().size(), r.seconds(), r.engine(), r.tolerance().atol(), r.tolerance().rtol());
        }

        private void comparison(Comparison cmp) {
            List<TensorResult> ts = cmp.outcome().tensors();
            out.println("A: " + Text.safe(cmp.labelA()) + "  " + Text.safe(String.valueOf(cmp.pathA())));
            out.println("B: " + Text.safe(cmp.labelB()) + "  " + Text.safe(String.valueOf(cmp.pathB())));
            cmp.notes().forEach(n -> out.println("   " + Text.safe(n)));
            out.printf(Locale.ROOT, "%s%s tensors: %s; %s compared%n", cmp.architecture().isEmpty() ? "" : Text.safe(cmp.architecture()) + ", ",
                    ts.size(), verdictCounts(cmp, this::styled), Text.bytes(cmp.outcome().bytesCompared()));
            DtypeCounts dtypes = cmp.dtypes();
            out.println("dtypes: " + Text.safe(dtypes.describe())
                    + (dtypes.differ() ? c("bold,yellow", ": the copies store different dtypes; values compared as float32") : ""));
            List<TensorResult> bad = new ArrayList<>(ts.stream().filter(t -> t.verdict().isFinding()).toList());
            bad.sort(Comparator.comparing((TensorResult t) -> t.verdict()).reversed()
                    .thenComparing(t -> -t.stats().maxAbs));
            if (!bad.isEmpty()) {
                out.println();
                out.println(c("bold", "Findings") + (bad.size() > 20 && !all ? " (20 worst of " + bad.size() + "; --all for every one)" : ""));
                bad.stream().limit(all ? Long.MAX_VALUE : 20).forEach(this::finding);
            }
            List<TensorResult> checks = cmp.outcome().checks();
            if (!checks.isEmpty()) {
                long failed = checks.stream().filter(t -> t.verdict().isFinding()).count();
                out.println();
                out.println(c("bold", "Consistency checks") + ": " + checks.size() + " (parameters replicated across TP ranks and EP folders,"
                        + " tied copies), " + (failed == 0 ? c("green", "all hold") : c("red", failed + " failed")));
                checks.stream().filter(t -> t.verdict().isFinding() || all).forEach(this::finding);
            }
            out.println();
            table(ts);
            out.println();
        }

        private String styled(Verdict v) {
            return switch (v) {
                case IDENTICAL -> c("green", v.label());
                case WITHIN_TOLERANCE -> c("cyan", v.label());
                default -> c("red", v.label());
            };
        }

        private void finding(TensorResult t) {
            var s = t.stats();
            StringBuilder line = new StringBuilder("  " + c("bold", Text.safe(t.name())) + "  " + styled(t.verdict()));
            if (t.verdict() == Verdict.SHAPE_MISMATCH || t.verdict() == Verdict.DTYPE_MISMATCH) {
                line.append("  A ").append(t.dtypeA()).append(Shapes.toString(t.shapeA())).append("  B ")
                        .append(t.dtypeB()).append(Shapes.toString(t.shapeB()));
            } else if (t.verdict() == Verdict.ONLY_IN_A || t.verdict() == Verdict.ONLY_IN_B) {
                long[] sh = t.shapeA() != null ? t.shapeA() : t.shapeB();
                line.append("  ").append(t.dtypeA().isEmpty() ? t.dtypeB() : t.dtypeA()).append(Shapes.toString(sh));
            } else if (s.count > 0) {
                line.append(String.format(Locale.ROOT, "  %d of %d elements differ, %d over tolerance, max|a-b| %.4g, rel L2 %.3g, cos %.6f",
                        s.count - s.equal, s.count, s.overTol, Math.max(0, s.maxAbs), s.relL2(), s.cosine()));
                if (s.nonFinite() > 0) {
                    line.append(String.format(Locale.ROOT, ", NaN A/B %d/%d, Inf A/B %d/%d", s.nanA, s.nanB, s.infA, s.infB));
                }
            }
            out.println(line);
            int shown = 0;
            for (TensorResult.Where w : t.where()) {
                if (shown++ == 8) {
                    out.println("      ... " + (t.where().size() - 8) + " more places (--json for all)");
                    break;
                }
                TensorResult.Element e = w.max() != null ? w.max() : w.first();
                out.printf(Locale.ROOT, "      %d differ in A %s / B %s%s%n", w.differing(), Text.safe(w.a().describe()), Text.safe(w.b().describe()),
                        w.nonFinite() > 0 ? " (" + w.nonFinite() + " non-finite)" : "");
                if (e != null) {
                    out.printf(Locale.ROOT, "        %s element %s: A%s = %s, B%s = %s%n", w.max() != null ? "worst" : "first",
                            e.hfIndex(), e.indexA(), fmt(e.a()), e.indexB(), fmt(e.b()));
                }
                if (w.first() != null && w.max() != null && !w.first().hfIndex().equals(w.max().hfIndex())) {
                    TensorResult.Element f = w.first();
                    out.printf(Locale.ROOT, "        first element %s: A%s = %s, B%s = %s%n", f.hfIndex(), f.indexA(),
                            fmt(f.a()), f.indexB(), fmt(f.b()));
                }
            }
            t.notes().forEach(n -> out.println("      note: " + Text.safe(n)));
        }

        private static String fmt(double v) {
            return Double.isFinite(v) ? String.format(Locale.ROOT, "%.6g", v) : Double.toString(v);
        }

        private void table(List<TensorResult> ts) {
            Map<String, List<TensorResult>> byLayer = new LinkedHashMap<>();
            for (TensorResult t : ts) {
                byLayer.computeIfAbsent(t.layerGroup(), k -> new ArrayList<>()).add(t);
            }
            List<String[]> rows = new ArrayList<>();
            if (all) {
                rows.add(new String[]{"tensor", "verdict", "dtype A/B", "shape", "max|a-b|", "rel L2", "cosine"});
                for (List<TensorResult> group : byLayer.values()) {
                    for (TensorResult t : group) {
                        var s = t.stats();
                        rows.add(new String[]{Text.safe(t.name()), t.verdict().label(), t.dtypeA() + "/" + t.dtypeB(),
                                Shapes.toString(t.shapeA() != null ? t.shapeA() : t.shapeB()),
                                s.count == 0 ? "-" : String.format(Locale.ROOT, "%.3g", Math.max(0, s.maxAbs)),
                                s.count == 0 ? "-" : String.format(Locale.ROOT, "%.3g", s.relL2()),
                                s.count == 0 ? "-" : String.format(Locale.ROOT, "%.7f", s.cosine())});
                    }
                }
            } else {
                rows.add(new String[]{"layer", "tensors", "verdicts"});
                for (Map.Entry<String, List<TensorResult>> e : byLayer.entrySet()) {
                    Map<Verdict, List<String>> names = new LinkedHashMap<>();
                    Map<Integer, Verdict> perExpert = new java.util.TreeMap<>(); // experts are summed up per expert
                    for (TensorResult t : e.getValue()) {
                        int expert = ExpertGroups.expertOf(t.name());
                        if (expert < 0) {
                            names.computeIfAbsent(t.verdict(), k -> new ArrayList<>()).add(shortName(t.name(), e.getKey()));
                        } else {
                            ExpertGroups.addVerdict(perExpert, expert, t.verdict());
                        }
                    }
                    StringBuilder sb = new StringBuilder();
                    names.forEach((v, n) -> sb.append(sb.isEmpty() ? "" : "; ").append(n.size()).append(' ').append(v.label())
                            .append(v.isFinding() ? ": " + String.join(", ", n) : ""));
                    String experts = ExpertGroups.summary(perExpert);
                    if (!experts.isEmpty()) {
                        sb.append(sb.isEmpty() ? "" : "; ").append(experts);
                    }
                    rows.add(new String[]{Text.safe(e.getKey()), Integer.toString(e.getValue().size()), Text.safe(sb.toString())});
                }
            }
            Text.table(rows).forEach(l -> out.println("  " + l));
        }

        private static String shortName(String name, String group) {
            return name.startsWith(group + ".") ? name.substring(group.length() + 1) : name;
        }
    }
}
