package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a new user meets first: a quiet stderr, dtypes named in the summary, a run's checkpoint root. */
class FreshMachineCliTest {
    private static final Path REPO = Cli.fixtures().getParent().getParent();

    @Test
    void noTrackedPathIsALinkOutOfTheRepository() throws Exception {
        Process p;
        try {
            p = new ProcessBuilder("git", "-C", REPO.toString(), "ls-files", "-s", "-z").redirectErrorStream(false).start();
        } catch (IOException e) {
            Assumptions.abort("git is not installed");
            return;
        }
        String listing = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        Assumptions.assumeTrue(p.waitFor() == 0, "not a git checkout");
        List<String> bad = new ArrayList<>();
        for (String entry : listing.split("\0")) {
            if (!entry.startsWith("120000 ")) {
                continue;
            }
            String path = entry.substring(entry.indexOf('\t') + 1);
            Path link = REPO.resolve(path);
            Path target = Files.readSymbolicLink(link);
            if (target.isAbsolute() || !link.getParent().resolve(target).normalize().startsWith(REPO)) {
                bad.add(path + " -> " + target);
            }
        }
        assertTrue(bad.isEmpty(), "tracked links that leave the repository: " + bad);
    }

    @Test
    void versionHelpAndACleanDiffSayNothingOnStderr() {
        for (String[] args : List.of(new String[]{"--version"}, new String[]{"--help"},
                new String[]{"--no-progress", Cli.fixtures().resolve("llama_tp2/global_step_10").toString()})) {
            Cli r = Cli.run(args);
            assertEquals(0, r.exit(), String.join(" ", args));
            assertEquals("", r.err(), String.join(" ", args));
        }
    }

    /** The real launcher, on the tests' classes: the JDK's incubator warning must not reach the user. */
    @Test
    void theLauncherSilencesTheIncubatorWarningButNotRealErrors() throws Exception {
        Process p = launcher("--version").start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), err);
        assertTrue(out.startsWith("ckpt-diff "), out);
        assertEquals("", err);

        p = launcher("/no/such/step").start();
        err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(2, p.exitValue(), err);
        assertEquals("ckpt-diff: /no/such/step: does not exist", err.strip());

        // What the JVM says before main is passed on once, before main's own words (stderr is put back on a
        // background thread; main's first write waits for it).
        ProcessBuilder pb = launcher("/no/such/step");
        pb.environment().put("JAVA_TOOL_OPTIONS", "-Dckptdiff.probe=1");
        p = pb.start();
        err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(2, p.exitValue(), err);
        assertEquals("Picked up JAVA_TOOL_OPTIONS: -Dckptdiff.probe=1\nckpt-diff: /no/such/step: does not exist", err.strip());

        // A JVM that cannot start still says why (its words are kept, not swallowed with the warning).
        pb = launcher("--version");
        pb.environment().put("CKPTDIFF_HEAP", "lots");
        p = pb.start();
        err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertTrue(p.exitValue() != 0);
        assertTrue(err.contains("-Xmxlots"), err);
    }

    /** The real launcher, run on the tests' classes and JDK. */
    private static ProcessBuilder launcher(String... args) {
        List<String> command = new java.util.ArrayList<>(List.of("bash", REPO.resolve("ckpt-diff").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("CKPTDIFF_CLASSPATH", System.getProperty("java.class.path"));
        pb.environment().put("CKPTDIFF_JAVA_HOME", System.getProperty("java.home"));
        return pb;
    }

    @Test
    void anFp16ExportOfABf16ModelIsNamedInTheSummaryAndTheJson() {
        Path step = Cli.fixtures().resolve("faults/hf_fp16/global_step_10");
        Cli json = Cli.run("--json", "-", step.toString());
        assertEquals(0, json.exit(), json.err());
        JsonNode cmp = json.json().path("comparisons").path(0);
        // Expected counts come from the generator's own record of what it saved, per tensor the report compared.
        JsonNode manifest = Cli.read(step.resolve("actor/hf_model/weights.manifest.json")).path("tensors");
        Map<String, Long> hfDtypes = new HashMap<>();
        for (JsonNode t : cmp.path("tensors")) {
            if (!t.path("dtype_a").asText().isEmpty()) {
                hfDtypes.merge(manifest.path(t.path("name").asText()).path("dtype").asText("?"), 1L, Long::sum);
            }
        }
        assertEquals(Map.of("F16", (long) cmp.path("tensors").size()), hfDtypes);
        assertEquals(hfDtypes.get("F16"), cmp.path("dtypes").path("a").path("F16").asLong());
        assertEquals(hfDtypes.get("F16"), cmp.path("dtypes").path("b").path("BF16").asLong());
        assertTrue(cmp.path("dtypes").path("differ").asBoolean());

        Cli text = Cli.run("--no-progress", step.toString());
        assertEquals(0, text.exit());
        long n = hfDtypes.get("F16");
        assertTrue(text.out().contains("dtypes: A F16 (" + n + "), B BF16 (" + n + "): the copies store different dtypes;"
                + " values compared as float32"), text.out());
    }

    @Test
    void aRunsCheckpointRootIsVerifiedStepByStepNewestFirst(@TempDir Path tmp) throws IOException {
        Path run = tmp.resolve("checkpoints");
        Cli.copyTree(Cli.fixtures().resolve("llama_tp2/global_step_10"), run.resolve("global_step_10"));
        Cli.copyTree(Cli.fixtures().resolve("faults/hf_element/global_step_10"), run.resolve("global_step_20"));
        Cli.copyTree(Cli.fixtures().resolve("faults/hf_fp16/global_step_10"), run.resolve("global_step_30"));
        Cli.copyTree(Cli.fixtures().resolve("llama_tp2/global_step_10"), run.resolve("global_step_40"));
        Files.delete(run.resolve("global_step_40/actor/latest_checkpointed_iteration.txt")); // still being written

        Cli r = Cli.run("--no-progress", run.toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        List<String> stepLines = r.out().lines().filter(l -> l.startsWith("  global_step_")).toList();
        assertEquals(4, stepLines.size(), r.out());
        assertTrue(stepLines.get(0).matches("  global_step_40 +INCOMPLETE +.*latest_checkpointed_iteration.txt is missing.*"), stepLines.get(0));
        assertTrue(stepLines.get(1).matches("  global_step_30 +SAME +.*\\(dtypes differ\\)"), stepLines.get(1));
        assertTrue(stepLines.get(2).matches("  global_step_20 +DIFFERENT +.*1 different"), stepLines.get(2));
        assertTrue(stepLines.get(3).matches("  global_step_10 +SAME +.*"), stepLines.get(3));
        // The worst findings below the summary: the faulty step's element, at its place.
        JsonNode fault = Cli.read(Cli.fixtures().resolve("faults/FAULTS.json")).path("hf_element");
        String details = r.out().substring(r.out().indexOf("== global_step_20 =="));
        assertTrue(details.contains(fault.path("tensor").asText()) && details.contains(fault.path("megatron_key").asText()), details);
        assertFalse(r.out().contains("== global_step_10 =="));
        assertTrue(r.out().strip().endsWith("4 step(s) checked: 2 same, 1 different, 1 incomplete, 0 unreadable"), r.out());

        Cli latest = Cli.run("--no-progress", "--latest", run.toString());
        assertEquals(1, latest.exit());
        assertEquals(1, latest.out().lines().filter(l -> l.startsWith("  global_step_")).count(), latest.out());

        // A rank folder without its file is incomplete too; an unreadable step is exit 2, the worst of all.
        Files.delete(run.resolve("global_step_40/actor/iter_0000010/mp_rank_01/model_optim_rng.pt"));
        Files.writeString(run.resolve("global_step_40/actor/latest_checkpointed_iteration.txt"), "10");
        Files.writeString(run.resolve("global_step_10/actor/hf_model/config.json"), "{ not json");
        Cli worst = Cli.run("--no-progress", "--json", "-", run.toString());
        assertEquals(2, worst.exit(), worst.err());
        JsonNode steps = worst.json().path("steps");
        assertEquals("incomplete", steps.path(0).path("status").asText());
        assertTrue(steps.path(0).path("problem").asText().contains("mp_rank_01 has no model_optim_rng.pt"));
        assertEquals("error", steps.path(3).path("status").asText());
        assertTrue(steps.path(3).path("problem").asText().contains("config.json"));
        assertEquals(2, worst.json().path("exit_code").asInt());

        // A torch_dist step: its metadata.json is written last; without it the step is still being saved.
        Cli.copyTree(Cli.fixtures().resolve("torchdist_qwen2_tp2_pp2/global_step_10"), run.resolve("global_step_50"));
        Files.delete(run.resolve("global_step_50/actor/iter_0000010/metadata.json"));
        Cli dist = Cli.run("--no-progress", "--latest", run.toString());
        assertTrue(dist.out().lines().anyMatch(l -> l.matches("  global_step_50 +INCOMPLETE +.*iter_0000010/metadata.json is missing.*")),
                dist.out());

        // Only clean steps (legacy and torch_dist): exit 0.
        Path clean = tmp.resolve("clean");
        Cli.copyTree(Cli.fixtures().resolve("llama_tp2/global_step_10"), clean.resolve("global_step_5"));
        Cli.copyTree(Cli.fixtures().resolve("torchdist_qwen2_tp2_pp2/global_step_10"), clean.resolve("global_step_6"));
        assertEquals(0, Cli.run("--no-progress", clean.toString()).exit());
    }

    @Test
    void namesThatTryToRedrawTheTerminalArePrintedEscaped() {
        Path dir = Cli.fixtures().resolve("hostile/names");
        JsonNode expected = Cli.read(dir.resolve("EXPECTED.json"));
        Cli r = Cli.run("--no-progress", "--color", "always", dir.resolve("a.safetensors").toString(),
                dir.resolve("b.safetensors").toString());
        assertEquals(1, r.exit());
        for (char c : r.out().toCharArray()) {
            assertTrue(c == '\n' || c == 0x1b || !Text.isControl(c), "raw control character " + (int) c);
        }
        // Only our own colour sequences survive: no cursor movement, no erase, no conceal.
        assertFalse(r.out().matches("(?s).*\u001b\\[[0-9;]*[A-Za-ln-z].*"), r.out());
        assertFalse(r.out().contains("\u001b[8m"));
        long forged = r.out().lines().filter(l -> l.startsWith("SAME")).count();
        assertEquals(0, forged, r.out());
        String plain = r.out().replaceAll("\u001b\\[[0-9;]*m", "");
        assertEquals(expected.path("differing").asInt(), plain.lines().filter(l -> l.contains("  different  ")).count(), plain);
        assertTrue(r.out().contains("w\\r\\x1b[2KSAME"), r.out());
        assertTrue(r.out().contains("w\\u202eelbatsni"), r.out());
        Cli inspect = Cli.run("inspect", dir.resolve("a.safetensors").toString());
        for (char c : inspect.out().toCharArray()) {
            assertTrue(c == '\n' || !Text.isControl(c), "raw control character in inspect: " + (int) c);
        }
    }
}
