package dev.ckptdiff.diff;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** One pairing of two copies and its outcome; {@code problems} are defects of a copy itself, each a finding. */
public record Comparison(String labelA, Path pathA, String labelB, Path pathB, String architecture,
                         Differ.Outcome outcome, List<String> notes, List<String> problems, Timings timings) {

    public long count(Verdict v) {
        long n = 0;
        for (TensorResult r : outcome.tensors()) { // asked per verdict of tens of thousands of results
            n += r.verdict() == v ? 1 : 0;
        }
        return n;
    }

    /** Tensors per stored dtype on each side, in one pass. */
    public DtypeCounts dtypes() {
        Map<String, Long> a = new java.util.HashMap<>(); // hashed per tensor, sorted once
        Map<String, Long> b = new java.util.HashMap<>();
        for (TensorResult r : outcome.tensors()) {
            if (r.dtypeA() != null && !r.dtypeA().isEmpty()) {
                a.merge(r.dtypeA(), 1L, Long::sum);
            }
            if (r.dtypeB() != null && !r.dtypeB().isEmpty()) {
                b.merge(r.dtypeB(), 1L, Long::sum);
            }
        }
        return new DtypeCounts(new TreeMap<>(a), new TreeMap<>(b));
    }

    public long findings() {
        long n = problems.size();
        for (List<TensorResult> rs : List.of(outcome.tensors(), outcome.checks())) {
            for (TensorResult r : rs) {
                n += r.verdict().isFinding() ? 1 : 0;
            }
        }
        return n;
    }
}
