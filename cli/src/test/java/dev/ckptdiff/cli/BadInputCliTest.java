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

/** Bad input: one line naming the file and the problem, exit 2, within a second, on a 256 MiB heap. */
class BadInputCliTest {

    @TestFactory
    List<DynamicTest> everyBadFile() {
        Path dir = Cli.fixtures().resolve("bad");
        JsonNode expected = Cli.read(dir.resolve("EXPECTED.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : expected.properties()) {
            tests.add(DynamicTest.dynamicTest(e.getKey(), () -> {
                Cli r = assertTimeoutPreemptively(Duration.ofSeconds(1),
                        () -> Cli.run("inspect", dir.resolve(e.getKey()).toString()));
                assertEquals(2, r.exit());
                String err = r.err().strip();
                assertFalse(err.contains("\n"), "one line: " + err);
                assertTrue(err.startsWith("ckpt-diff: ") && err.contains(e.getKey()) && err.contains(e.getValue().asText()), err);
                assertFalse(err.contains("Exception"), err);
            }));
        }
        return tests;
    }

    @Test
    void usageAndMissingPathsAreExitTwo() {
        assertEquals(2, Cli.run("--no-such-option").exit());
        Cli r = Cli.run("/no/such/step");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("/no/such/step") && r.err().contains("does not exist"), r.err());
        Cli t = Cli.run("--atol", "-1", Cli.fixtures().resolve("llama_tp2/global_step_10").toString());
        assertEquals(2, t.exit());
    }

    @Test
    void aMissingRankFolderIsNamed(@org.junit.jupiter.api.io.TempDir Path tmp) throws java.io.IOException {
        Path src = Cli.fixtures().resolve("llama_tp2/global_step_10/actor/iter_0000010");
        Path it = tmp.resolve("iter_0000010");
        try (var files = java.nio.file.Files.walk(src)) {
            for (Path p : files.filter(p -> !p.toString().contains("mp_rank_01")).toList()) {
                java.nio.file.Files.copy(p, it.resolve(src.relativize(p).toString()));
            }
        }
        Cli r = Cli.run(it.toString(), Cli.fixtures().resolve("check/llama").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("missing shard folder mp_rank_01") && r.err().contains("TP=2"), r.err());
    }
}
