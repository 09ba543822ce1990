package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile Megatron args and layouts, and configs claiming more than their files hold
 * (testdata/hostile/gen_layout.py): each run within its time limit on the 256 MiB heap, with the
 * exit code, stdout text and stderr text EXPECTED.json gives; refusals are one {@code ckpt-diff:} line
 * (after any warning that says what was inferred).
 */
class HostileLayoutCliTest {
    private static final Duration LIMIT = Duration.ofSeconds(10);

    @TestFactory
    List<DynamicTest> everyHostileLayout() {
        Path dir = Cli.fixtures().resolve("hostile/layout");
        JsonNode expected = Cli.read(dir.resolve("EXPECTED.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : expected.properties()) {
            String caseDir = dir.resolve(c.getKey()).toString();
            for (JsonNode run : c.getValue()) {
                List<String> args = new ArrayList<>();
                run.get("args").forEach(a -> args.add(a.asText().replace("{dir}", caseDir)));
                String name = c.getKey() + ": " + String.join(" ", args).replace(caseDir, "{dir}");
                tests.add(DynamicTest.dynamicTest(name, () -> check(run, args)));
            }
        }
        return tests;
    }

    /** A layer hole is a finding in the JSON report too, on each side that has it, whatever the tensors say. */
    @Test
    void layerHolesAreProblemsInTheJsonReport(@TempDir Path tmp) {
        Path it = Cli.fixtures().resolve("hostile/layout/layer_hole/iter_0000010");
        Path json = tmp.resolve("report.json");
        Cli r = assertTimeoutPreemptively(LIMIT, () -> Cli.run("--no-progress", "--json=" + json, it.toString(), it.toString()));
        assertEquals(1, r.exit(), r.out() + r.err());
        JsonNode report = Cli.read(json);
        assertEquals(2, report.get("findings").asInt());
        JsonNode problems = report.get("comparisons").get(0).get("problems");
        assertEquals(2, problems.size());
        assertTrue(problems.get(0).asText().startsWith("A: " + it + ": layers 3, 4 missing"), problems.toString());
        assertTrue(problems.get(1).asText().startsWith("B: "), problems.toString());
    }

    private static void check(JsonNode run, List<String> args) {
        Cli r = assertTimeoutPreemptively(LIMIT, () -> Cli.run(args.toArray(String[]::new)));
        String all = r.out() + r.err();
        assertEquals(run.get("exit").asInt(), r.exit(), all);
        assertFalse(all.contains("Exception"), all);
        String err = r.err().strip();
        if (r.exit() == 2) { // one error line, after any warnings about what was inferred
            List<String> errors = err.lines().filter(l -> !l.startsWith("ckpt-diff: warning: ")).toList();
            assertEquals(1, errors.size(), "one line: " + err);
            assertTrue(errors.getFirst().startsWith("ckpt-diff: "), err);
        }
        assertEquals(err.lines().distinct().count(), err.lines().count(), "said once: " + err);
        for (JsonNode s : run.path("err")) {
            assertTrue(err.contains(s.asText()), "stderr lacks '" + s.asText() + "': " + err);
        }
        for (JsonNode s : run.path("out")) {
            assertTrue(r.out().contains(s.asText()), "stdout lacks '" + s.asText() + "': " + r.out());
        }
    }
}
