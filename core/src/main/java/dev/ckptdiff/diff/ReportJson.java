package dev.ckptdiff.diff;

import java.util.List;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The {@code --json} form of a report. Field names are part of the tool's interface: add fields,
 * never rename them. Non-finite numbers are written as strings ("NaN", "Infinity").
 */
public final class ReportJson {
    public static final int SCHEMA_VERSION = 1;
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private ReportJson() {
    }

    public static ObjectNode of(DiffReport r) {
        ObjectNode root = F.objectNode();
        root.put("schema_version", SCHEMA_VERSION);
        ArrayNode inputs = root.putArray("inputs");
        r.inputs().forEach(inputs::add);
        root.put("engine", r.engine());
        root.put("atol", r.tolerance().atol());
        root.put("rtol", r.tolerance().rtol());
        root.put("threads", r.threads());
        root.put("seconds", r.seconds());
        root.put("findings", r.findings());
        root.put("exit_code", r.exitCode());
        ArrayNode comps = root.putArray("comparisons");
        for (Comparison c : r.comparisons()) {
            ObjectNode o = comps.addObject();
            o.put("a", c.labelA());
            o.put("a_path", c.pathA().toString());
            o.put("b", c.labelB());
            o.put("b_path", c.pathB().toString());
            o.put("architecture", c.architecture());
            ObjectNode dtypes = o.putObject("dtypes");
            DtypeCounts stored = c.dtypes();
            stored.a().forEach(dtypes.putObject("a")::put);
            stored.b().forEach(dtypes.putObject("b")::put);
            dtypes.put("differ", stored.differ());
            o.put("bytes_compared", c.outcome().bytesCompared());
            ObjectNode counts = o.putObject("counts");
            for (Verdict v : Verdict.values()) {
                counts.put(v.name().toLowerCase(java.util.Locale.ROOT), c.count(v));
            }
            ArrayNode notes = o.putArray("notes");
            c.notes().forEach(notes::add);
            ArrayNode problems = o.putArray("problems");
            c.problems().forEach(problems::add);
            tensors(o.putArray("tensors"), c.outcome().tensors());
            tensors(o.putArray("checks"), c.outcome().checks());
        }
        return root;
    }

    private static void tensors(ArrayNode arr, List<TensorResult> results) {
        for (TensorResult t : results) {
            ObjectNode o = arr.addObject();
            o.put("name", t.name());
            o.put("kind", t.kind());
            o.put("verdict", t.verdict().name().toLowerCase(java.util.Locale.ROOT));
            o.put("dtype_a", t.dtypeA());
            o.put("dtype_b", t.dtypeB());
            shape(o, "shape_a", t.shapeA());
            shape(o, "shape_b", t.shapeB());
            Stats s = t.stats();
            o.put("elements", s.count);
            o.put("equal", s.equal);
            o.put("over_tolerance", s.overTol);
            num(o, "max_abs_diff", Math.max(0, s.maxAbs));
            o.put("max_abs_diff_index", s.maxIndex);
            num(o, "mean_abs_diff", s.meanAbs());
            num(o, "rel_l2", s.relL2());
            num(o, "cosine", s.cosine());
            num(o, "one_minus_cosine", s.oneMinusCosine());
            o.put("nan_a", s.nanA);
            o.put("nan_b", s.nanB);
            o.put("inf_a", s.infA);
            o.put("inf_b", s.infB);
            o.put("first_diff_index", s.firstDiff);
            ArrayNode where = o.putArray("where");
            for (TensorResult.Where w : t.where()) {
                ObjectNode x = where.addObject();
                source(x.putObject("a"), w.a());
                source(x.putObject("b"), w.b());
                x.put("row_from", w.rowFrom());
                x.put("rows", w.rows());
                x.put("differing", w.differing());
                x.put("over_tolerance", w.overTol());
                x.put("non_finite", w.nonFinite());
                element(x, "first", w.first());
                element(x, "max", w.max());
            }
            ArrayNode notes = o.putArray("notes");
            t.notes().forEach(notes::add);
        }
    }

    private static void source(ObjectNode o, Source s) {
        o.put("file", s.file());
        o.put("key", s.key());
        o.put("part", s.part());
    }

    private static void element(ObjectNode o, String name, TensorResult.Element e) {
        if (e == null) {
            return;
        }
        ObjectNode x = o.putObject(name);
        x.put("index", e.hfIndex());
        x.put("index_a", e.indexA());
        x.put("index_b", e.indexB());
        num(x, "a", e.a());
        num(x, "b", e.b());
    }

    private static void shape(ObjectNode o, String name, long[] shape) {
        if (shape == null) {
            o.putNull(name);
            return;
        }
        ArrayNode a = o.putArray(name);
        for (long d : shape) {
            a.add(d);
        }
    }

    private static void num(ObjectNode o, String name, double v) {
        if (Double.isFinite(v)) {
            o.put(name, v);
        } else {
            o.put(name, Double.toString(v));
        }
    }
}
