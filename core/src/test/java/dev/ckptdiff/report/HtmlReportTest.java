package dev.ckptdiff.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffJob;
import dev.ckptdiff.diff.DiffReport;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.diff.VectorEngine;
import dev.ckptdiff.diff.Verdict;

/** The report's pictures put each planted fault in the hot cell, and the page holds what a person needs. */
class HtmlReportTest {
    private static final JsonNode FAULTS = Fixtures.json(Fixtures.path("faults/FAULTS.json"));

    static Comparison fault(String name) {
        Differ d = new Differ(new VectorEngine(), new Differ.Options(Tolerance.DEFAULT, false, 2), b -> { });
        Path step = Fixtures.path("faults/" + name + "/global_step_10");
        return DiffJob.compare(DiffJob.pairs(List.of(step)).getFirst(), d, b -> { });
    }

    static List<TensorResult> all(Comparison c) {
        List<TensorResult> all = new ArrayList<>(c.outcome().tensors());
        all.addAll(c.outcome().checks());
        return all;
    }

    /**
     * The cells a fault's tensors belong in, worked out here from the HF names FAULTS.json gives (not by the
     * code under test): "model.layers.1.mlp.down_proj.weight" is row "layer 1", column "down".
     */
    static Set<String> expectedCells(JsonNode fault) {
        List<String> names = new ArrayList<>();
        if (fault.has("tensor")) {
            names.add(fault.get("tensor").asText());
        }
        fault.path("tensors").forEach(n -> names.add(n.asText()));
        return names.stream().map(n -> {
            String row = n.matches("model\\.layers\\.\\d+\\..*") ? "layer " + n.split("\\.")[2] : "global";
            String leaf = n.replaceAll("\\.(weight|bias)$", "");
            leaf = leaf.substring(leaf.lastIndexOf('.') + 1);
            String col = switch (leaf) {
                case "q_proj" -> "q";
                case "k_proj" -> "k";
                case "v_proj" -> "v";
                case "o_proj" -> "o";
                case "gate_proj" -> "gate";
                case "up_proj" -> "up";
                case "down_proj" -> "down";
                case "input_layernorm", "post_attention_layernorm", "norm" -> "norms";
                default -> leaf;
            };
            return row + "|" + col;
        }).collect(Collectors.toSet());
    }

    static List<String> faultsWithPlaces() {
        return StreamSupport.stream(((Iterable<String>) FAULTS::fieldNames).spliterator(), false)
                .filter(f -> !expectedCells(FAULTS.get(f)).isEmpty()).toList();
    }

    @Test
    void everyPlantedFaultIsCovered() {
        // hf_fp16 is the one fixture without a fault: it must stay cool (below), the rest must be hot where FAULTS.json says
        assertEquals(FAULTS.size() - 1, faultsWithPlaces().size(), faultsWithPlaces().toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"hf_element", "hf_gate_up_swap", "hf_missing", "qkv_kv_swap", "replicated_norm", "shard_nan", "tied_lm_head"})
    void theFaultIsTheHotCell(String name) {
        Heatmap h = Heatmap.byLayer(all(fault(name)), Metric.REL_L2);
        Heatmap.Cell hot = h.hottest();
        Set<String> expected = expectedCells(FAULTS.get(name));
        assertTrue(expected.contains(hot.row() + "|" + hot.column()), name + ": hot " + hot.row() + "|" + hot.column() + ", expected " + expected);
        // and every other cell is cooler or equal to the fault: nothing else competes
        for (Heatmap.Cell c : h.cells()) {
            if (!expected.contains(c.row() + "|" + c.column())) {
                assertTrue(c.value() < hot.value(), name + ": " + c.row() + "|" + c.column() + " as hot as the fault");
            }
        }
    }

    @Test
    void rankFileViewNamesTheShardTheFaultIsStoredIn() {
        JsonNode f = FAULTS.get("shard_nan");
        Heatmap h = Heatmap.byFile(all(fault("shard_nan")), Metric.REL_L2);
        Heatmap.Cell hot = h.hottest();
        assertEquals("B " + f.get("megatron_file").asText(), hot.row());
        assertEquals("o", hot.column());
        assertTrue(hot.worst().detail().contains(f.get("megatron_key").asText()), hot.worst().detail());

        Heatmap replicas = Heatmap.byFile(all(fault("replicated_norm")), Metric.REL_L2);
        assertEquals(List.of("A mp_rank_00", "B mp_rank_01"), replicas.rows());
        assertEquals(List.of("norms"), replicas.columns());
    }

    @Test
    void aCopyWithinToleranceStaysCool() {
        Comparison c = fault("hf_fp16");
        Heatmap files = Heatmap.byFile(all(c), Metric.REL_L2);
        assertEquals(List.of("B mp_rank_00", "B mp_rank_01"), files.rows(), "re-rounding sits in every rank file");
        assertTrue(files.hottest().value() < 1e-2);
        assertTrue(Heatmap.byFile(all(fault("hf_missing")), Metric.REL_L2).isEmpty(), "a missing tensor differs in no file");
        Heatmap h = Heatmap.byLayer(all(c), Metric.REL_L2);
        assertEquals(List.of("layer 0", "layer 1", "layer 2", "layer 3", "global"), h.rows());
        // fp16 re-rounding of bf16 values: small, never near a fault's 0.1..1
        assertTrue(h.hottest().value() < 1e-2, () -> "hot " + h.hottest().value());
    }

    @Test
    void pageIsSelfContainedAndCarriesTheBlame() {
        JsonNode f = FAULTS.get("hf_element");
        Comparison c = fault("hf_element");
        String page = HtmlReport.render(new DiffReport(List.of("x"), "vector", Tolerance.DEFAULT, 2, List.of(c), 0.1), Metric.REL_L2);
        assertFalse(page.contains("<script src"), "no script fetched");
        assertFalse(page.contains("<link"), "no stylesheet fetched");
        assertTrue(page.contains("echarts"), "the library is inlined");
        assertTrue(page.contains(">DIFFERENT<"));
        assertTrue(page.contains(f.get("megatron_key").asText()));
        assertTrue(page.contains("worst element [3, 40]: A[3, 40] = "), "element blame");
        assertTrue(page.contains("Consistency checks (9, all hold)"));
        assertTrue(page.contains("\"hot\":\"layer 1|down\""));
    }

    @Test
    void namesFromFilesAreShownNotRun() {
        Comparison c = OneTensor.of("model.layers.0.<script>alert(1)</script>.weight", Verdict.DIFFERENT, 4, 4, 0,
                "</script><b>x", Path.of("/a"), Path.of("/b\"<i>"));
        String page = HtmlReport.render(new DiffReport(List.of("/a", "/b"), "vector", Tolerance.DEFAULT, 1, List.of(c), 0), Metric.REL_L2);
        assertFalse(page.contains("<script>alert"));
        assertFalse(page.contains("</script><b>x"));
        assertTrue(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assertFalse(page.contains("/b\"<i>"));
    }

    @Test
    void logScaleEnds() {
        assertEquals(HtmlReport.FLOOR, HtmlReport.scaled(0));
        assertEquals(HtmlReport.CEIL, HtmlReport.scaled(Double.POSITIVE_INFINITY));
        assertEquals(-3, HtmlReport.scaled(1e-3), 1e-12);
        assertEquals(HtmlReport.CEIL, HtmlReport.scaled(1e6));
        assertTrue(HtmlReport.scaled(1e-30) > HtmlReport.FLOOR, "a tiny difference is not shown as equal");
    }
}
