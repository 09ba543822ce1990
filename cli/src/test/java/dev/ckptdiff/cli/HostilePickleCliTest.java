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
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The hostile pickle corpus (testdata/hostile/gen_pickle.py): crafted pickles, torch.save files and
 * zips. Each case runs through inspect, inspect --tree, inspect --json --tree, inspect --sha256 and,
 * where the case says so, a diff, on the test JVM's 256 MiB heap, each within a few seconds; each
 * either succeeds showing what EXPECTED.json says or fails with one 'ckpt-diff:' line.
 */
class HostilePickleCliTest {
    /**
     * Each command must finish within a few seconds of CPU (the process's, so that parallel readers and
     * the GC count too); the wall-clock limit only catches hangs, generous because test machines are shared.
     */
    private static final Duration CPU_LIMIT = Duration.ofSeconds(5);
    private static final Duration WALL_LIMIT = Duration.ofSeconds(30);
    private static final Path DIR = Cli.fixtures().resolve("hostile/pickle");

    @TestFactory
    List<DynamicNode> everyHostileCase() {
        JsonNode expected = Cli.read(DIR.resolve("EXPECTED.json"));
        List<DynamicNode> cases = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : expected.properties()) {
            String input = DIR.resolve(e.getKey()).toString();
            JsonNode want = e.getValue();
            List<DynamicTest> tests = new ArrayList<>();
            if (want.has("error")) {
                String error = want.get("error").asText();
                for (List<String> args : List.of(List.of("inspect"), List.of("inspect", "--tree"),
                        List.of("inspect", "--json", "--tree"), List.of("inspect", "--sha256"))) {
                    tests.add(DynamicTest.dynamicTest(String.join(" ", args), () -> {
                        Cli r = run(args, input);
                        fails(r, error);
                        absent(r, want);
                    }));
                }
                for (JsonNode d : want.path("diff")) {
                    String other = DIR.resolve(d.get(0).asText()).toString();
                    tests.add(DynamicTest.dynamicTest("diff " + d.get(0).asText(), () -> fails(
                            run(List.of("--no-progress"), input, other), error)));
                }
            } else {
                tests.add(DynamicTest.dynamicTest("inspect", () -> succeeds(run(List.of("inspect"), input), want, "ok")));
                tests.add(DynamicTest.dynamicTest("inspect --tree",
                        () -> succeeds(run(List.of("inspect", "--tree"), input), want, "tree")));
                tests.add(DynamicTest.dynamicTest("inspect --json --tree", () -> {
                    Cli r = run(List.of("inspect", "--json", "--tree"), input);
                    assertEquals(0, r.exit(), r.err());
                    assertTrue(r.json().path("copies").size() > 0, r.out());
                    absent(r, want);
                }));
                tests.add(DynamicTest.dynamicTest("inspect --sha256", () -> sha256(input, want.path("sha256"))));
                for (JsonNode d : want.path("diff")) {
                    String other = DIR.resolve(d.get(0).asText()).toString();
                    tests.add(DynamicTest.dynamicTest("diff " + d.get(0).asText(), () -> {
                        Cli r = run(List.of("--no-progress", "--color", "never"), input, other);
                        assertEquals(d.get(1).asInt(), r.exit(), r.out() + r.err());
                        for (JsonNode s : d.get(2)) {
                            assertTrue(r.out().contains(s.asText()), "expected '" + s.asText() + "' in:\n" + r.out());
                        }
                        assertFalse(r.err().contains("Exception"), r.err());
                    }));
                }
            }
            cases.add(DynamicContainer.dynamicContainer(e.getKey(), tests));
        }
        return cases;
    }

    private static Cli run(List<String> args, String... inputs) {
        List<String> all = new ArrayList<>(args);
        all.addAll(List.of(inputs));
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long cpu = os.getProcessCpuTime();
        Cli r = assertTimeoutPreemptively(WALL_LIMIT, () -> Cli.run(all.toArray(String[]::new)), String.join(" ", all));
        Duration used = Duration.ofNanos(os.getProcessCpuTime() - cpu);
        assertTrue(used.compareTo(CPU_LIMIT) < 0, String.join(" ", all) + " took " + used + " of CPU");
        return r;
    }

    private static void fails(Cli r, String error) {
        assertEquals(2, r.exit(), r.out() + r.err());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), "one line: " + err);
        assertTrue(err.startsWith("ckpt-diff: ") && err.contains(error), err);
        assertFalse(err.contains("Exception"), err);
    }

    private static void succeeds(Cli r, JsonNode want, String what) {
        assertEquals(0, r.exit(), r.err());
        for (JsonNode s : want.path(what)) {
            assertTrue(r.out().contains(s.asText()), "expected '" + s.asText() + "' in:\n" + r.out());
        }
        assertFalse(r.err().contains("Exception"), r.err());
        absent(r, want);
    }

    private static void absent(Cli r, JsonNode want) {
        for (JsonNode s : want.path("absent")) {
            assertFalse(r.out().contains(s.asText()) || r.err().contains(s.asText()),
                    "raw " + Cli.JSON.valueToTree(s.asText()) + " printed");
        }
    }

    private static void sha256(String input, JsonNode want) {
        Cli r = run(List.of("inspect", "--sha256"), input);
        if (want.has("error")) {
            fails(r, want.get("error").asText());
            return;
        }
        assertEquals(0, r.exit(), r.err());
        for (Map.Entry<String, JsonNode> t : want.properties()) {
            assertTrue(r.out().lines().anyMatch(l -> l.strip().startsWith(t.getKey() + " ")
                    && l.strip().endsWith(t.getValue().asText())), t.getKey() + " " + t.getValue() + " in:\n" + r.out());
        }
    }
}
