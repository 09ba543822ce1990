package dev.ckptdiff.diff;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongConsumer;

import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.tensor.Shapes;

/**
 * Compares two {@link ModelView}s. Every tensor becomes pairs of overlapping pieces, every pair is
 * cut into tasks of about {@link #CHUNK} elements, and a fixed set of threads takes tasks in order.
 * Results are merged in task order, so the outcome does not depend on the thread count.
 */
public final class Differ {
    static final long CHUNK = 1 << 20;

    /** Beyond this many differing experts of one tensor family, crosswise checks would cost too much. */
    private static final int MAX_SWAP_EXPERTS = 8;

    /** Siblings whose contents get swapped by a wrong mapping; checked crosswise when both differ. */
    private static final List<String[]> SWAPPABLE = List.of(
            new String[]{"self_attn.k_proj.weight", "self_attn.v_proj.weight"},
            new String[]{"self_attn.k_proj.bias", "self_attn.v_proj.bias"},
            new String[]{"mlp.gate_proj.weight", "mlp.up_proj.weight"});

    public record Options(Tolerance tolerance, boolean strictDtype, int threads) {
    }

    private final ComputeEngine engine;
    private final Options options;
    private final LongConsumer progress;

    public Differ(ComputeEngine engine, Options options, LongConsumer progress) {
        this.engine = engine;
        this.options = options;
        this.progress = progress;
    }

    private record Job(String name, String kind, Assembled a, Assembled b, List<PairPlan> pairs, long rows,
                       List<String> notes) {
    }

    public record Outcome(List<TensorResult> tensors, List<TensorResult> checks, long bytesCompared) {
    }

    /** Compares two views; {@code totalBytes} hears, before the first byte is read, how many will be. */
    public Outcome compare(ModelView a, ModelView b, LongConsumer totalBytes) {
        Set<String> names = new LinkedHashSet<>(a.tensors().keySet());
        names.addAll(b.tensors().keySet());
        List<TensorResult> results = new ArrayList<>();
        List<Job> jobs = new ArrayList<>();
        List<Integer> resultSlot = new ArrayList<>();
        for (String name : sorted(names)) {
            Assembled x = a.tensors().get(name);
            Assembled y = b.tensors().get(name);
            TensorResult early = precheck(name, "tensor", x, y);
            if (early != null) {
                results.add(early);
                continue;
            }
            jobs.add(plan(name, "tensor", x, y));
            resultSlot.add(results.size());
            results.add(null);
        }
        List<TensorResult> checks = new ArrayList<>();
        List<Job> checkJobs = new ArrayList<>();
        for (ModelView v : List.of(a, b)) {
            for (Check c : v.checks()) {
                String label = c.name() + " (" + v.label() + ")";
                TensorResult early = precheck(label, c.kind() == Check.Kind.REPLICA ? "replica" : "tied copy",
                        c.expected(), c.actual());
                if (early != null) {
                    checks.add(early);
                    continue;
                }
                Job j = plan(label, c.kind() == Check.Kind.REPLICA ? "replica" : "tied copy", c.expected(), c.actual());
                j.notes().add(c.what());
                checkJobs.add(j);
                checks.add(null);
            }
        }
        List<Job> all = new ArrayList<>(jobs);
        all.addAll(checkJobs);
        List<List<Stats>> pairStats = execute(all, true, totalBytes);
        // A tensor that differs somewhere needs the norms the byte screen skipped: run it again, fully.
        List<Integer> redo = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            boolean skipped = false;
            boolean allEqual = true;
            for (Stats t : pairStats.get(i)) {
                skipped |= t.normsSkipped > 0;
                allEqual &= t.allEqual();
            }
            if (skipped && !allEqual) {
                redo.add(i);
            }
        }
        if (!redo.isEmpty()) {
            List<List<Stats>> again = execute(redo.stream().map(all::get).toList(), false, total -> { });
            for (int k = 0; k < redo.size(); k++) {
                pairStats.set(redo.get(k), again.get(k));
            }
        }
        long bytes = 0;
        for (int i = 0; i < jobs.size(); i++) {
            results.set(resultSlot.get(i), finish(jobs.get(i), pairStats.get(i)));
            for (PairPlan p : jobs.get(i).pairs()) {
                bytes += p.elements() * (p.pa.src().dtype().size() + p.pb.src().dtype().size());
            }
        }
        int k = 0;
        for (int i = 0; i < checks.size(); i++) {
            if (checks.get(i) == null) {
                checks.set(i, finish(checkJobs.get(k), pairStats.get(jobs.size() + k)));
                k++;
            }
        }
        crossCheckSwaps(a, b, results);
        return new Outcome(results, checks, bytes);
    }

    private static List<String> sorted(Set<String> names) {
        List<String> l = new ArrayList<>(names);
        NaturalOrder.sort(l);
        return l;
    }

    private TensorResult precheck(String name, String kind, Assembled x, Assembled y) {
        if (x == null || y == null) {
            Assembled present = x != null ? x : y;
            return new TensorResult(name, kind, x == null ? Verdict.ONLY_IN_B : Verdict.ONLY_IN_A,
                    x == null ? "" : x.dtypeString(), y == null ? "" : y.dtypeString(),
                    x == null ? null : x.shape(), y == null ? null : y.shape(), new Stats(), List.of(),
                    present.isUnmappedMegatronKey() ? List.of("a Megatron key with no HF name in the mapping table")
                            : List.of());
        }
        boolean sameTrailing = x.shape().length == y.shape().length && x.cols() == y.cols();
        boolean padded = (x.paddedRows() || y.paddedRows()) && sameTrailing;
        boolean shapeOk = java.util.Arrays.equals(x.shape(), y.shape())
                || (padded && (x.paddedRows() ? x.rows() >= y.rows() : y.rows() >= x.rows()));
        if (!shapeOk) {
            return new TensorResult(name, kind, Verdict.SHAPE_MISMATCH, x.dtypeString(), y.dtypeString(), x.shape(),
                    y.shape(), new Stats(), List.of(), List.of("shapes " + Shapes.toString(x.shape()) + " and "
                    + Shapes.toString(y.shape()) + " differ"));
        }
        boolean floatsA = x.floatingPoint();
        boolean floatsB = y.floatingPoint();
        if (floatsA != floatsB || (options.strictDtype() && !x.dtypes().equals(y.dtypes()))) {
            return new TensorResult(name, kind, Verdict.DTYPE_MISMATCH, x.dtypeString(), y.dtypeString(), x.shape(),
                    y.shape(), new Stats(), List.of(), List.of("dtypes " + x.dtypeString() + " and " + y.dtypeString()
                    + (floatsA != floatsB ? " are not both floating point" : " differ (--strict-dtype)")));
        }
        return null;
    }

    private Job plan(String name, String kind, Assembled x, Assembled y) {
        long rows = Math.min(x.rows(), y.rows());
        List<String> notes = new ArrayList<>();
        if (x.rows() != y.rows()) {
            notes.add("rows " + rows + ".." + (Math.max(x.rows(), y.rows()) - 1) + " of "
                    + (x.rows() > y.rows() ? "A" : "B") + " are vocabulary padding, not compared");
        }
        List<PairPlan> pairs = new ArrayList<>();
        for (Piece pa : x.pieces()) {
            for (Piece pb : y.pieces()) {
                PairPlan p = PairPlan.of(pa, pb, rows, x.cols());
                if (p != null) {
                    pairs.add(p);
                }
            }
        }
        return new Job(name, kind, x, y, pairs, rows, notes);
    }

    private record Task(int job, int pair, long from, long to, long bytes) {
    }

    /** Runs every pair of every job; returns per job, per pair, the merged stats. */
    private List<List<Stats>> execute(List<Job> jobs, boolean screen, LongConsumer totalBytes) {
        List<Task> tasks = new ArrayList<>();
        for (int j = 0; j < jobs.size(); j++) {
            List<PairPlan> pairs = jobs.get(j).pairs();
            for (int p = 0; p < pairs.size(); p++) {
                PairPlan pp = pairs.get(p);
                long step = Math.max(1, CHUNK / pp.elementsPerUnit());
                long bytesPerUnit = pp.elementsPerUnit() * (pp.pa.src().dtype().size() + pp.pb.src().dtype().size());
                for (long u = 0; u < pp.units(); u += step) {
                    long to = Math.min(pp.units(), u + step);
                    tasks.add(new Task(j, p, u, to, (to - u) * bytesPerUnit));
                }
            }
        }
        long total = 0;
        for (Task t : tasks) {
            total += t.bytes();
        }
        totalBytes.accept(total);
        Stats[] out = new Stats[tasks.size()];
        AtomicInteger next = new AtomicInteger();
        AtomicReference<RuntimeException> failure = new AtomicReference<>();
        Runnable worker = () -> {
            int i;
            while (failure.get() == null && (i = next.getAndIncrement()) < tasks.size()) {
                Task t = tasks.get(i);
                Stats s = new Stats();
                try {
                    jobs.get(t.job()).pairs().get(t.pair()).execute(t.from(), t.to(), engine, options.tolerance(), s, screen);
                } catch (RuntimeException e) {
                    failure.compareAndSet(null, e);
                    return;
                } catch (InternalError e) {
                    if (!MappedFile.isFault(e)) {
                        throw e;
                    }
                    failure.compareAndSet(null, MappedFile.fault(e));
                    return;
                }
                out[i] = s;
                progress.accept(t.bytes());
            }
        };
        int threads = Math.max(1, Math.min(options.threads(), tasks.size()));
        List<Thread> pool = new ArrayList<>();
        for (int i = 1; i < threads; i++) {
            pool.add(Thread.ofPlatform().daemon().name("ckpt-diff-" + i).start(worker));
        }
        worker.run();
        for (Thread t : pool) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        // Tasks were made in job and pair order: walk them once; a pair of one task keeps that task's stats.
        List<List<Stats>> merged = new ArrayList<>(jobs.size());
        int i = 0;
        for (int j = 0; j < jobs.size(); j++) {
            int pairs = jobs.get(j).pairs().size();
            List<Stats> l = new ArrayList<>(pairs);
            for (int p = 0; p < pairs; p++) {
                int first = i;
                while (i < tasks.size() && tasks.get(i).job() == j && tasks.get(i).pair() == p) {
                    i++;
                }
                l.add(i - first == 1 ? out[first] : sum(java.util.Arrays.asList(out).subList(first, i)));
            }
            merged.add(l);
        }
        return merged;
    }

    private static Stats sum(List<Stats> parts) {
        Stats total = new Stats();
        parts.forEach(total::add);
        return total;
    }

    private TensorResult finish(Job j, List<Stats> pairs) {
        Stats total = pairs.size() == 1 ? pairs.getFirst() : sum(pairs);
        List<TensorResult.Where> where = new ArrayList<>();
        for (int p = 0; p < pairs.size(); p++) {
            Stats s = pairs.get(p);
            if (s.allEqual()) {
                continue;
            }
            PairPlan pp = j.pairs().get(p);
            where.add(new TensorResult.Where(pp.pa.source(), pp.pb.source(), pp.r0, pp.rows, s.count - s.equal,
                    s.overTol, s.nonFiniteMismatch, element(j, pp, s.firstDiff, s.firstA, s.firstB),
                    element(j, pp, s.maxIndex, s.maxA, s.maxB)));
        }
        Verdict v = total.nonFinite() > 0 ? Verdict.NON_FINITE
                : total.overTol > 0 ? Verdict.DIFFERENT
                : total.allEqual() ? Verdict.IDENTICAL : Verdict.WITHIN_TOLERANCE;
        List<String> notes = new ArrayList<>(j.notes());
        if (!j.a().dtypes().equals(j.b().dtypes())) {
            notes.add("dtypes differ (" + j.a().dtypeString() + " vs " + j.b().dtypeString() + "): compared as float32");
        }
        return new TensorResult(j.name(), j.kind(), v, j.a().dtypeString(), j.b().dtypeString(), j.a().shape(),
                j.b().shape(), total, where, notes);
    }

    private static TensorResult.Element element(Job j, PairPlan pp, long hfIndex, double a, double b) {
        if (hfIndex < 0) {
            return null;
        }
        long cols = j.a().cols();
        long row = hfIndex / cols;
        long col = hfIndex % cols;
        return new TensorResult.Element(Shapes.index(hfIndex, j.a().shape()), pp.pa.sourceIndex(row, col),
                pp.pb.sourceIndex(row, col), a, b);
    }

    /**
     * When both of two siblings differ (k/v, gate/up), compare each with the other's counterpart: a
     * piece that matches crosswise was swapped, and the note says where.
     */
    private void crossCheckSwaps(ModelView a, ModelView b, List<TensorResult> results) {
        boolean anyDifferent = false;
        for (TensorResult r : results) {
            anyDifferent |= r.verdict() == Verdict.DIFFERENT;
        }
        if (!anyDifferent) { // the common case: nothing to cross-check, no index of every name to build
            return;
        }
        Map<String, Integer> index = new java.util.HashMap<>();
        for (int i = 0; i < results.size(); i++) {
            index.put(results.get(i).name(), i);
        }
        for (TensorResult r : List.copyOf(results)) {
            for (String[] pair : SWAPPABLE) {
                if (!r.name().endsWith(pair[0]) || r.verdict() != Verdict.DIFFERENT) {
                    continue;
                }
                String other = r.name().substring(0, r.name().length() - pair[0].length()) + pair[1];
                Integer oi = index.get(other);
                if (oi == null || results.get(oi).verdict() != Verdict.DIFFERENT) {
                    continue;
                }
                String n1 = swapNote(a.tensors().get(r.name()), b.tensors().get(other), r.name(), other);
                String n2 = swapNote(a.tensors().get(other), b.tensors().get(r.name()), other, r.name());
                if (n1 != null && n2 != null) {
                    addNote(results, index.get(r.name()), n1);
                    addNote(results, oi, n2);
                }
            }
        }
        // Two experts of one layer, both different: compare each with the other's counterpart.
        for (List<TensorResult> family : ExpertGroups.differingByFamily(results).values()) {
            if (family.size() < 2 || family.size() > MAX_SWAP_EXPERTS) {
                continue;
            }
            for (int i = 0; i < family.size(); i++) {
                for (int j = i + 1; j < family.size(); j++) {
                    String x = family.get(i).name();
                    String y = family.get(j).name();
                    String n1 = swapNote(a.tensors().get(x), b.tensors().get(y), x, y);
                    String n2 = n1 == null ? null : swapNote(a.tensors().get(y), b.tensors().get(x), y, x);
                    if (n2 != null) {
                        addNote(results, index.get(x), n1);
                        addNote(results, index.get(y), n2);
                    }
                }
            }
        }
    }

    private String swapNote(Assembled x, Assembled y, String xName, String yName) {
        if (x == null || y == null || !java.util.Arrays.equals(x.shape(), y.shape())) {
            return null;
        }
        Job j = plan(xName, "cross", x, y);
        List<Stats> pairs = execute(List.of(j), false, total -> { }).getFirst();
        List<String> swapped = new ArrayList<>();
        boolean any = false;
        for (int p = 0; p < pairs.size(); p++) {
            Stats s = pairs.get(p);
            if (s.overTol == 0 && s.nonFinite() == 0 && s.count > 0) {
                PairPlan pp = j.pairs().get(p);
                any = true;
                Source src = pp.pb.source().key().equals(yName) ? pp.pa.source() : pp.pb.source(); // the shard side
                String rows = "rows " + pp.r0 + ".." + (pp.r0 + pp.rows - 1);
                if (!swapped.contains(src.describe() + " " + rows)) {
                    swapped.add(src.describe() + " " + rows);
                }
            }
        }
        if (!any) {
            return null;
        }
        return "looks swapped: A's " + xName + " equals B's " + yName + " at " + String.join("; ", swapped);
    }

    private static void addNote(List<TensorResult> results, int i, String note) {
        TensorResult r = results.get(i);
        List<String> notes = new ArrayList<>(r.notes());
        notes.add(note);
        results.set(i, new TensorResult(r.name(), r.kind(), r.verdict(), r.dtypeA(), r.dtypeB(), r.shapeA(), r.shapeB(),
                r.stats(), r.where(), notes));
    }

    public ComputeEngine engine() {
        return engine;
    }
}
