package dev.ckptdiff.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffJob;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.diff.VectorEngine;
import dev.ckptdiff.diff.Verdict;

/** Drift between steps of the drift fixture names exactly the tensors the generator moved, by about how much. */
class DriftTest {
    private static final JsonNode DRIFT = Fixtures.json(Fixtures.path("drift/DRIFT.json"));

    static List<Comparison> between(int a, int b) {
        Differ d = new Differ(new VectorEngine(), new Differ.Options(Tolerance.DEFAULT, false, 2), x -> { });
        Path root = Fixtures.path("drift/checkpoints");
        List<Comparison> out = new ArrayList<>();
        for (DiffJob.Pair p : DiffJob.pairs(List.of(root.resolve("global_step_" + a), root.resolve("global_step_" + b)))) {
            out.add(DiffJob.compare(p, d, x -> { }));
        }
        return out;
    }

    static Set<String> expected(String transition) {
        Set<String> s = new TreeSet<>();
        DRIFT.get("changed").get(transition).forEach(n -> s.add(n.asText()));
        return s;
    }

    @Test
    void namesExactlyTheMovedTensorsOnBothCopies() {
        List<Comparison> cs = between(10, 20);
        assertEquals(2, cs.size(), "HF with HF, Megatron with Megatron");
        for (Comparison c : cs) {
            assertTrue(Drift.betweenSteps(c));
            Drift d = Drift.of(c);
            Set<String> moved = new TreeSet<>();
            d.moved().forEach(m -> moved.add(m.tensor().name()));
            assertEquals(expected("10->20"), moved, c.labelA());
            for (Drift.Moved m : d.moved()) {
                double planted = DRIFT.get("relative_update").get(m.tensor().name()).asDouble();
                assertEquals(planted, m.update(), planted * 0.15, m.tensor().name());
            }
            assertEquals("model.layers.1.mlp.down_proj.weight", d.moved().getFirst().tensor().name(), "largest first");
            assertEquals(List.of("layer 0", "layer 2", "global"), d.unchangedRows());
            assertTrue(d.nonFiniteAppeared().isEmpty());
            assertTrue(d.healthyChange());
            assertFalse(d.nothingChanged());
            assertEquals(0.02, d.median(), 0.003, "median of the changed: four attention projections at 0.02, one at 0.5");
            List<String[]> table = d.table();
            int down = List.of(table.getFirst()).indexOf("down");
            String[] layer1 = table.stream().filter(r -> r[0].equals("layer 1")).findFirst().orElseThrow();
            assertTrue(layer1[down].startsWith("0.5"), "layer 1's down cell: " + layer1[down]);
            String[] layer0 = table.stream().filter(r -> r[0].equals("layer 0")).findFirst().orElseThrow();
            assertEquals("0", layer0[down]);
        }
    }

    @Test
    void twoIdenticalStepsChangedNothing() {
        for (Comparison c : between(20, 30)) {
            Drift d = Drift.of(c);
            assertTrue(d.nothingChanged());
            assertFalse(d.healthyChange());
            assertEquals(List.of("layer 0", "layer 1", "layer 2", "layer 3", "global"), d.unchangedRows());
            assertTrue(d.lines().getFirst().contains("0 of 39 tensors changed"), d.lines().getFirst());
        }
    }

    @Test
    void acrossStepsPutsEachLayersLargestUpdateInItsTransition() {
        Drift a = Drift.of(between(10, 20).getFirst());
        Drift b = Drift.of(between(20, 30).getFirst());
        Heatmap h = Drift.acrossSteps(List.of("10->20", "20->30"), List.of(a, b));
        assertEquals(List.of("10->20", "20->30"), h.columns());
        Heatmap.Cell hot = h.hottest();
        assertEquals("layer 1", hot.row());
        assertEquals("10->20", hot.column());
        assertTrue(h.cells().stream().filter(c -> c.column().equals("20->30")).allMatch(c -> c.value() == 0));
    }

    @Test
    void stepNumbersFromPaths() {
        assertEquals(OptionalLong.of(20), Drift.step(Path.of("/x/checkpoints/global_step_20/actor/hf_model")));
        assertEquals(OptionalLong.of(30), Drift.step(Path.of("/x/run/actor/iter_0000030")));
        assertEquals(OptionalLong.of(500), Drift.step(Path.of("/out/checkpoint-500")));
        assertEquals(OptionalLong.empty(), Drift.step(Path.of("/x/hf_model")));
    }

    @Test
    void aNanThatAppearsIsNamedAndFailsTheStep() {
        Comparison c = OneTensor.of("model.layers.0.mlp.up_proj.weight", Verdict.NON_FINITE, 10, 4, 1, "",
                Path.of("/r/global_step_1"), Path.of("/r/global_step_2"));
        TensorResult t = c.outcome().tensors().getFirst();
        Drift d = Drift.of(c);
        assertEquals(List.of(t), d.nonFiniteAppeared());
        assertFalse(d.healthyChange());
        assertTrue(d.lines().stream().anyMatch(l -> l.contains("non-finite values appeared: model.layers.0.mlp.up_proj.weight (NaN 0->1")));
    }
}
