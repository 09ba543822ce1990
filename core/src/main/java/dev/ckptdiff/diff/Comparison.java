package dev.ckptdiff.diff;

import java.nio.file.Path;
import java.util.List;

/** One pairing of two copies and its outcome; {@code problems} are defects of a copy itself, each a finding. */
public record Comparison(String labelA, Path pathA, String labelB, Path pathB, String architecture,
                         Differ.Outcome outcome, List<String> notes, List<String> problems, Timings timings) {

    public long count(Verdict v) {
        return outcome.tensors().stream().filter(r -> r.verdict() == v).count();
    }

    public long findings() {
        return outcome.tensors().stream().filter(r -> r.verdict().isFinding()).count()
                + outcome.checks().stream().filter(r -> r.verdict().isFinding()).count() + problems.size();
    }
}
