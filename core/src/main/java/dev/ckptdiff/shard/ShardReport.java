package dev.ckptdiff.shard;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffReport;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.ReportJson;
import dev.ckptdiff.diff.Source;
import dev.ckptdiff.diff.Stats;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Timings;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.diff.Verdict;
import dev.ckptdiff.diff.NaturalOrder;
import dev.ckptdiff.io.BadInputException;

/**
 * A shard's {@code --json}: the ordinary report of its part plus a "shard" section holding what the ordinary JSON
 * rounds or leaves out (every accumulator of each tensor's statistics, the copy each place belongs to, the checks'
 * positions), so that {@link #merge} rebuilds the very report an unsharded run gives.
 */
public final class ShardReport {
    private ShardReport() {
    }

    public static ObjectNode of(DiffReport r, Shard s, String fingerprint, List<List<Integer>> checkOrders) {
        ObjectNode root = ReportJson.of(r);
        ObjectNode sh = root.putObject("shard");
        sh.put("index", s.index());
        sh.put("count", s.count());
        sh.put("fingerprint", fingerprint);
        ArrayNode comps = sh.putArray("comparisons");
        for (int i = 0; i < r.comparisons().size(); i++) {
            Comparison c = r.comparisons().get(i);
            ObjectNode o = comps.addObject();
            checkOrders.get(i).forEach(o.putArray("check_order")::add);
            raw(o.putArray("tensors"), c.outcome().tensors());
            raw(o.putArray("checks"), c.outcome().checks());
        }
        return root;
    }

    private static void raw(ArrayNode arr, List<TensorResult> ts) {
        for (TensorResult t : ts) {
            ObjectNode o = arr.addObject();
            Stats s = t.stats();
            ArrayNode st = o.putArray("stats");
            for (double v : new double[]{s.count, s.equal, s.overTol, s.nanA, s.nanB, s.infA, s.infB, s.nonFiniteMismatch,
                    s.skipped, s.sumAbs, s.sumSq, s.sumSqA, s.sumSqB, s.maxAbs, s.maxIndex, s.maxA, s.maxB, s.firstDiff,
                    s.normsSkipped, s.firstA, s.firstB}) {
                if (Double.isFinite(v)) {
                    st.add(v);
                } else {
                    st.add(Double.toString(v));
                }
            }
            ArrayNode copies = o.putArray("copies");
            t.where().forEach(w -> copies.addArray().add(w.a().copy()).add(w.b().copy()));
        }
    }

    /**
     * The report of the whole run from all its parts: refuses parts of different runs, a part twice, or a missing
     * part, each with one line naming the file.
     */
    public static DiffReport merge(List<Path> files, List<JsonNode> parts) {
        if (parts.isEmpty()) {
            throw new BadInputException("merge: no parts given");
        }
        JsonNode first = parts.getFirst();
        String fp = text(first, files.getFirst(), "shard", "fingerprint");
        int count = first.path("shard").path("count").asInt(-1);
        JsonNode[] byIndex = new JsonNode[Math.max(count, 0)];
        for (int i = 0; i < parts.size(); i++) {
            JsonNode p = parts.get(i);
            Path f = files.get(i);
            if (!text(p, f, "shard", "fingerprint").equals(fp) || p.path("shard").path("count").asInt(-1) != count) {
                throw BadInputException.in(f, "is a part of a different run than " + files.getFirst()
                        + " (other inputs, tensors, tolerances or shard count)");
            }
            int idx = p.path("shard").path("index").asInt(-1);
            if (idx < 0 || idx >= count) {
                throw BadInputException.in(f, "shard.index " + idx + " is not in 0.." + (count - 1));
            }
            if (byIndex[idx] != null) {
                throw BadInputException.in(f, "is part " + idx + "/" + count + " again");
            }
            byIndex[idx] = p;
        }
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            if (byIndex[i] == null) {
                missing.add(i + "/" + count);
            }
        }
        if (!missing.isEmpty()) {
            throw new BadInputException("merge: part(s) " + String.join(", ", missing) + " missing (got " + parts.size()
                    + " of " + count + ", e.g. " + files.getFirst() + ")");
        }
        List<Comparison> comparisons = new ArrayList<>();
        int nComp = first.path("comparisons").size();
        for (int ci = 0; ci < nComp; ci++) {
            List<TensorResult> tensors = new ArrayList<>();
            List<Ordered> checks = new ArrayList<>();
            long bytes = 0;
            for (JsonNode p : byIndex) {
                JsonNode c = p.path("comparisons").path(ci);
                JsonNode raw = p.path("shard").path("comparisons").path(ci);
                bytes += c.path("bytes_compared").asLong();
                for (int k = 0; k < c.path("tensors").size(); k++) {
                    tensors.add(result(c.path("tensors").get(k), raw.path("tensors").get(k)));
                }
                for (int k = 0; k < c.path("checks").size(); k++) {
                    checks.add(new Ordered(raw.path("check_order").get(k).asInt(), result(c.path("checks").get(k), raw.path("checks").get(k))));
                }
            }
            NaturalOrder.sortBy(tensors, t -> t.name(), null);
            checks.sort(Comparator.comparingInt(Ordered::order));
            JsonNode c0 = first.path("comparisons").path(ci);
            List<String> notes = new ArrayList<>();
            c0.path("notes").forEach(n -> notes.add(n.asText()));
            List<String> problems = new ArrayList<>(); // every part opened both copies whole, so each holds them all
            c0.path("problems").forEach(n -> problems.add(n.asText()));
            comparisons.add(new Comparison(c0.path("a").asText(), Path.of(c0.path("a_path").asText()), c0.path("b").asText(),
                    Path.of(c0.path("b_path").asText()), c0.path("architecture").asText(),
                    new Differ.Outcome(tensors, checks.stream().map(Ordered::result).toList(), bytes), notes, problems, new Timings()));
        }
        List<String> inputs = new ArrayList<>();
        first.path("inputs").forEach(n -> inputs.add(n.asText()));
        double seconds = 0;
        for (JsonNode p : byIndex) {
            seconds = Math.max(seconds, p.path("seconds").asDouble());
        }
        return new DiffReport(inputs, first.path("engine").asText(), new Tolerance(first.path("atol").asDouble(),
                first.path("rtol").asDouble()), first.path("threads").asInt(), comparisons, seconds);
    }

    private record Ordered(int order, TensorResult result) {
    }

    private static String text(JsonNode n, Path f, String... path) {
        JsonNode x = n;
        for (String p : path) {
            x = x.path(p);
        }
        if (!x.isTextual()) {
            throw BadInputException.in(f, "has no " + String.join(".", path) + ": not a part written by --shard");
        }
        return x.asText();
    }

    private static TensorResult result(JsonNode t, JsonNode raw) {
        Stats s = new Stats();
        double[] v = new double[21];
        for (int i = 0; i < v.length; i++) {
            v[i] = num(raw.path("stats").path(i));
        }
        s.count = (long) v[0];
        s.equal = (long) v[1];
        s.overTol = (long) v[2];
        s.nanA = (long) v[3];
        s.nanB = (long) v[4];
        s.infA = (long) v[5];
        s.infB = (long) v[6];
        s.nonFiniteMismatch = (long) v[7];
        s.skipped = (long) v[8];
        s.sumAbs = v[9];
        s.sumSq = v[10];
        s.sumSqA = v[11];
        s.sumSqB = v[12];
        s.maxAbs = v[13];
        s.maxIndex = (long) v[14];
        s.maxA = v[15];
        s.maxB = v[16];
        s.firstDiff = (long) v[17];
        s.normsSkipped = (long) v[18];
        s.firstA = v[19];
        s.firstB = v[20];
        List<TensorResult.Where> where = new ArrayList<>();
        for (int i = 0; i < t.path("where").size(); i++) {
            JsonNode w = t.path("where").get(i);
            JsonNode copies = raw.path("copies").path(i);
            where.add(new TensorResult.Where(source(copies.path(0).asText(), w.path("a")), source(copies.path(1).asText(), w.path("b")),
                    w.path("row_from").asLong(), w.path("rows").asLong(), w.path("differing").asLong(), w.path("over_tolerance").asLong(),
                    w.path("non_finite").asLong(), element(w.path("first")), element(w.path("max"))));
        }
        List<String> notes = new ArrayList<>();
        t.path("notes").forEach(n -> notes.add(n.asText()));
        return new TensorResult(t.path("name").asText(), t.path("kind").asText(),
                Verdict.valueOf(t.path("verdict").asText().toUpperCase(Locale.ROOT)), t.path("dtype_a").asText(),
                t.path("dtype_b").asText(), shape(t.path("shape_a")), shape(t.path("shape_b")), s, where, notes);
    }

    private static Source source(String copy, JsonNode s) {
        return new Source(copy, s.path("file").asText(), s.path("key").asText(), s.path("part").asText());
    }

    private static TensorResult.Element element(JsonNode e) {
        if (e.isMissingNode() || e.isNull()) {
            return null;
        }
        return new TensorResult.Element(e.path("index").asText(), e.path("index_a").asText(), e.path("index_b").asText(),
                num(e.path("a")), num(e.path("b")));
    }

    private static long[] shape(JsonNode s) {
        if (!s.isArray()) {
            return null;
        }
        long[] out = new long[s.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.get(i).asLong();
        }
        return out;
    }

    private static double num(JsonNode n) {
        return n.isTextual() ? Double.parseDouble(n.asText()) : n.asDouble();
    }
}
