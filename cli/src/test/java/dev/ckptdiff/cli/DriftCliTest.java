package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ckpt-diff between steps of one run: the drift summary, --expect-change, and --drift over a run's root. */
class DriftCliTest {
    private static final Path ROOT = Cli.fixtures().resolve("drift/checkpoints");
    private static final JsonNode DRIFT = Cli.read(Cli.fixtures().resolve("drift/DRIFT.json"));

    static String step(int n) {
        return ROOT.resolve("global_step_" + n).toString();
    }

    @Test
    void twoStepsLeadWithTheUpdateSizePerLayer() {
        Cli r = Cli.run("--no-progress", "--color", "never", step(10), step(20));
        assertEquals(1, r.exit(), "the copies differ; without --expect-change that is exit 1");
        assertTrue(r.out().startsWith("A: HF actor/hf_model"), r.out());
        assertTrue(r.out().contains("Drift step 10 -> step 20: 5 of 39 tensors changed"), r.out());
        assertTrue(r.out().contains("bitwise unchanged: layer 0, layer 2, global"), r.out());
        assertTrue(r.out().contains("largest: model.layers.1.mlp.down_proj.weight 0.5"), r.out());
        assertFalse(r.out().contains("Findings"), "no wall of 'different'");
    }

    @Test
    void expectChangePassesOnATrainedStepAndFailsOnAnIdenticalOne() {
        Cli trained = Cli.run("--no-progress", "--expect-change", "--json", "-", step(10), step(20));
        assertEquals(0, trained.exit(), trained.err());
        JsonNode j = trained.json();
        assertEquals(0, j.get("exit_code").asInt());
        for (JsonNode d : j.get("drift")) {
            Set<String> moved = new TreeSet<>();
            d.get("moved").forEach(m -> moved.add(m.get("name").asText()));
            Set<String> expected = new TreeSet<>();
            DRIFT.get("changed").get("10->20").forEach(n -> expected.add(n.asText()));
            assertEquals(expected, moved);
            assertEquals(10, d.get("step_a").asInt());
            assertEquals(20, d.get("step_b").asInt());
        }
        Cli same = Cli.run("--no-progress", "--color", "never", "--expect-change", step(20), step(30));
        assertEquals(1, same.exit());
        assertTrue(same.out().contains("NOTHING CHANGED"), same.out());
        Cli plain = Cli.run("--no-progress", step(20), step(30));
        assertEquals(0, plain.exit(), "identical copies are SAME without --expect-change");
    }

    @Test
    void driftOverARunsSteps(@TempDir Path tmp) throws IOException {
        Path html = tmp.resolve("drift.html");
        Cli r = Cli.run("--no-progress", "--color", "never", "--drift", "--html", html.toString(), ROOT.toString());
        assertEquals(0, r.exit(), r.err());
        String[] lines = r.out().split("\n");
        assertTrue(lines[1].matches("\\s+layer\\s+10->20\\s+20->30"), lines[1]);
        assertTrue(r.out().lines().anyMatch(l -> l.matches("\\s+layer 1\\s+0\\.5\\d*\\s+0")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("\\s+layer 0\\s+0\\s+0")), r.out());
        String page = Files.readString(html);
        assertTrue(page.contains("\"hot\":\"layer 1|10->20\""), "the plot's hot cell");
        try (var s = Files.list(tmp)) {
            assertEquals(1, s.count(), "no temporary file left");
        }
        Cli strict = Cli.run("--no-progress", "--drift", "--expect-change", ROOT.toString());
        assertEquals(1, strict.exit(), "20->30 changed nothing");
    }

    @Test
    void driftNeedsStepsOrARunRoot() {
        Cli r = Cli.run("--drift", Cli.fixtures().resolve("llama_tp2/global_step_10").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().startsWith("ckpt-diff: ") && r.err().contains("global_step_10") && r.err().strip().lines().count() == 1, r.err());
        Cli html = Cli.run("--html", "/tmp/never-written.html", ROOT.toString());
        assertEquals(2, html.exit(), "a run root's report is per step: --html needs --drift there");
        assertTrue(html.err().contains("--drift") && html.err().contains("global_step_30"), html.err());
    }
}
