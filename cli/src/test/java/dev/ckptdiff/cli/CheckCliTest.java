package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class CheckCliTest {
    static Path check() {
        return Cli.fixtures().resolve("check");
    }

    /** Models transformers wrote for every supported architecture pass, with the parameter count it implies. */
    @ParameterizedTest
    @ValueSource(strings = {"llama", "qwen2", "qwen3", "qwen2_5_vl", "qwen3_vl", "qwen3_moe"})
    void cleanModelsPass(String model) {
        Cli r = Cli.run("check", "--json", check().resolve(model).toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        JsonNode sec = r.json().get("sections").get(0);
        assertEquals(0, sec.get("findings").size(), sec.toString());
        String params = sec.get("facts").get("parameters").asText();
        String[] counts = params.replace(",", "").replaceAll("[^0-9 ]", "").trim().split("\\s+");
        assertEquals(counts[0], counts[1], "files hold exactly what config.json implies: " + params);
    }

    @TestFactory
    List<DynamicTest> everyBrokenVariantIsCaughtWithItsCause() {
        JsonNode cases = Cli.read(check().resolve("CHECKS.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : cases.properties()) {
            tests.add(DynamicTest.dynamicTest(c.getKey(), () -> {
                Path dir = check().resolve("broken").resolve(c.getKey());
                Path target = dir.resolve("global_step_10").toFile().isDirectory() ? dir.resolve("global_step_10") : dir;
                Cli r = Cli.run("check", target.toString());
                assertEquals(1, r.exit(), r.out() + r.err());
                String errors = String.join("\n", r.out().lines().filter(l -> l.startsWith("  error:")).toList());
                for (JsonNode s : c.getValue().get("expect")) {
                    assertTrue(errors.contains(s.asText()), "'" + s.asText() + "' in\n" + errors);
                }
            }));
        }
        return tests;
    }

    @ParameterizedTest
    @CsvSource({
            "qwen2, --tp=3, --tp: TP 3: num_attention_heads 4 is not divisible by 3",
            "llama, --pp=3, --pp: PP 3: num_hidden_layers 4 is not divisible by 3",
            "qwen3, --vpp=4, 'num_hidden_layers 4 is not divisible by PP × VPP = 8'",
            "qwen3_moe, --ep=3, --ep: EP 3: num_local_experts 4 is not divisible by 3",
            "llama, --ep=2, --ep: EP 2: llama has no experts",
            "qwen3_vl, --pp=4, 'deepstack_visual_indexes [0, 1] feed 2 vision features into language layers 0..1'"})
    void layoutRules(String model, String option, String expected) {
        List<String> args = new ArrayList<>(List.of("check", check().resolve(model).toString(), option));
        if (option.startsWith("--vpp")) {
            args.add("--pp=2");
        }
        Cli r = Cli.run(args.toArray(String[]::new));
        assertEquals(1, r.exit(), r.out());
        assertTrue(r.out().contains(expected), expected + " in\n" + r.out());
    }

    @Test
    void aLayoutThatFitsReportsShardsAndMemory() {
        Cli r = Cli.run("check", check().resolve("qwen3_vl").toString(), "--tp", "2", "--pp", "2");
        assertEquals(0, r.exit(), r.out());
        assertTrue(r.out().contains("padded vocabulary  256"), r.out());
        assertTrue(r.out().contains("linear_qkv [128, 64]"), r.out()); // (4 + 2·2) heads × 32 / TP 2
        assertTrue(r.out().contains("stage 0: 0..1; stage 1: 2..3"), r.out());
        assertTrue(r.out().contains("weights per rank"), r.out());
    }

    @Test
    void stepFoldersCheckBothCopies() {
        Cli r = Cli.run("check", Cli.fixtures().resolve("qwen2_tp2_pp2/global_step_10").toString());
        assertEquals(0, r.exit(), r.out());
        assertTrue(r.out().contains("HF model:") && r.out().contains("Megatron checkpoint:"), r.out());
        assertTrue(r.out().contains("TP=2 PP=2, 4 shards, 4 layers"), r.out());
    }

    @TestFactory
    List<DynamicTest> everyRlinfRule() {
        Path dir = Cli.fixtures().getParent().resolve("configs");
        JsonNode expected = Cli.read(dir.resolve("EXPECTED.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : expected.properties()) {
            tests.add(DynamicTest.dynamicTest(e.getKey(), () -> {
                Cli r = Cli.run("check", "--config", dir.resolve(e.getKey()).toString());
                assertEquals(e.getValue().get("exit").asInt(), r.exit(), r.out() + r.err());
                String all = r.out() + r.err();
                for (JsonNode s : e.getValue().path("says")) {
                    assertTrue(all.contains(s.asText()), "'" + s.asText() + "' in\n" + all);
                }
                if (e.getValue().get("exit").asInt() == 0 && !e.getValue().has("says")) {
                    assertFalse(all.contains("warning:") || all.contains("error:"), all);
                }
            }));
        }
        return tests;
    }

    @Test
    void pathOrConfigButNotBoth() {
        assertEquals(2, Cli.run("check").exit());
        assertEquals(2, Cli.run("check", "--tp", "0", check().resolve("llama").toString()).exit());
    }
}
