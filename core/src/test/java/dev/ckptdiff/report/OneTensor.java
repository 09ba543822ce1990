package dev.ckptdiff.report;

import java.nio.file.Path;
import java.util.List;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.Stats;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Timings;
import dev.ckptdiff.diff.Verdict;

/** A comparison of one made-up tensor, for what no fixture can hold (hostile names, a NaN that appears). */
final class OneTensor {
    private OneTensor() {
    }

    static Comparison of(String name, Verdict v, long count, long overTol, long nanB, String note, Path a, Path b) {
        Stats s = new Stats();
        s.count = count;
        s.equal = count - overTol - nanB;
        s.overTol = overTol;
        s.nanB = nanB;
        s.sumSq = 0.01;
        s.sumSqA = 1;
        s.sumSqB = 1;
        TensorResult t = new TensorResult(name, "tensor", v, "BF16", "BF16", new long[]{count}, new long[]{count}, s,
                List.of(), note.isEmpty() ? List.of() : List.of(note));
        return new Comparison("A", a, "B", b, "", new Differ.Outcome(List.of(t), List.of(), 4 * count), List.of(), List.of(), new Timings());
    }
}
