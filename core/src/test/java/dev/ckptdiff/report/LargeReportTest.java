package dev.ckptdiff.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffReport;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.Stats;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Timings;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.diff.Verdict;

/** An MoE-sized report (18,000+ tensors) builds fast, stays a few MB, and groups the experts into one column. */
class LargeReportTest {
    static final int LAYERS = 94;
    static final int EXPERTS = 64;

    static DiffReport moe() {
        List<TensorResult> ts = new ArrayList<>();
        for (int l = 0; l < LAYERS; l++) {
            for (String p : List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate",
                    "input_layernorm", "post_attention_layernorm")) {
                ts.add(tensor("model.layers." + l + "." + p + ".weight", l == 40 && p.equals("mlp.gate") ? 0.3 : 1e-4));
            }
            for (int e = 0; e < EXPERTS; e++) {
                for (String p : List.of("gate_proj", "up_proj", "down_proj")) {
                    ts.add(tensor("model.layers." + l + ".mlp.experts." + e + "." + p + ".weight", l == 7 && e == 5 ? 0.8 : 1e-4));
                }
            }
        }
        Comparison c = new Comparison("HF", Path.of("/a"), "Megatron", Path.of("/b"), "Qwen3MoeForCausalLM",
                new Differ.Outcome(ts, List.of(), 0), List.of(), List.of(), new Timings());
        return new DiffReport(List.of("/a", "/b"), "vector", Tolerance.DEFAULT, 1, List.of(c), 0);
    }

    static TensorResult tensor(String name, double rel) {
        Stats s = new Stats();
        s.count = 1000;
        s.equal = 900;
        s.overTol = rel > 0.01 ? 50 : 0;
        s.sumSqB = 1;
        s.sumSqA = 1;
        s.sumSq = rel * rel;
        s.maxAbs = rel;
        return new TensorResult(name, "tensor", rel > 0.01 ? Verdict.DIFFERENT : Verdict.WITHIN_TOLERANCE, "BF16", "BF16",
                new long[]{1000}, new long[]{1000}, s, List.of(), List.of());
    }

    @Test
    void eighteenThousandTensorsRenderQuicklyIntoOnePicture() {
        DiffReport r = moe();
        assertTrue(r.comparisons().getFirst().outcome().tensors().size() >= 18_000);
        HtmlReport.render(r, Metric.REL_L2); // warm up the class loading and the library read
        long t0 = System.nanoTime();
        String page = HtmlReport.render(r, Metric.REL_L2);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(seconds < 5, "rendered in " + seconds + " s");
        assertTrue(page.length() < 12_000_000, "page size " + page.length());
        Heatmap h = Heatmap.byLayer(r.comparisons().getFirst().outcome().tensors(), Metric.REL_L2);
        assertEquals(LAYERS, h.rows().size());
        assertEquals(List.of("q", "k", "v", "o", "norms", "router", "experts"), h.columns());
        assertEquals("layer 7|experts", h.hottest().row() + "|" + h.hottest().column());
        assertTrue(h.hottest().worst().tensor().name().contains("experts.5."), "the tooltip names the expert");
        assertEquals(3 * EXPERTS, h.hottest().entries().size());
    }
}
