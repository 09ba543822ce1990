package dev.ckptdiff.diff;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/** One pairing of two copies and its outcome; {@code problems} are defects of a copy itself, each a finding. */
public record Comparison(String labelA, Path pathA, String labelB, Path pathB, String architecture,
                         Differ.Outcome outcome, List<String> notes, List<String> problems, Timings timings) {

    public long count(Verdict v) {
        return outcome.tensors().stream().filter(r -> r.verdict() == v).count();
    }

    /** Tensors per stored dtype on side A. */
    public Map<String, Long> dtypesA() {
        return dtypes(TensorResult::dtypeA);
    }

    /** Tensors per stored dtype on side B. */
    public Map<String, Long> dtypesB() {
        return dtypes(TensorResult::dtypeB);
    }

    /** True when the two sides store their tensors in different dtypes, so values were compared as float32. */
    public boolean dtypesDiffer() {
        return !dtypesA().keySet().equals(dtypesB().keySet());
    }

    private Map<String, Long> dtypes(Function<TensorResult, String> side) {
        Map<String, Long> m = new TreeMap<>();
        for (TensorResult r : outcome.tensors()) {
            String d = side.apply(r);
            if (d != null && !d.isEmpty()) {
                m.merge(d, 1L, Long::sum);
            }
        }
        return m;
    }

    public long findings() {
        return outcome.tensors().stream().filter(r -> r.verdict().isFinding()).count()
                + outcome.checks().stream().filter(r -> r.verdict().isFinding()).count() + problems.size();
    }
}
