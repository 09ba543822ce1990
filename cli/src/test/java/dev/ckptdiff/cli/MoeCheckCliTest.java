package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
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

/** ckpt-diff check on Qwen3-MoE: Megatron shards vs args and config.json, and MoE layout rules. */
class MoeCheckCliTest {
    private static Path moe() {
        return Cli.fixtures().resolve("moe");
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe_tp2", "qwen3_moe_ep2", "qwen3_moe_tp2_ep2"})
    void cleanMoeStepsPass(String name) {
        Cli r = Cli.run("check", moe().resolve(name + "/global_step_10").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("experts        8 experts"), r.out());
    }

    @TestFactory
    List<DynamicTest> everyBrokenMoeShardIsCaughtWithItsCause() {
        JsonNode cases = Cli.read(moe().resolve("check/CHECKS.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : cases.properties()) {
            tests.add(DynamicTest.dynamicTest(c.getKey(), () -> {
                Cli r = Cli.run("check", moe().resolve("check/" + c.getKey() + "/global_step_10").toString());
                assertEquals(1, r.exit(), r.out() + r.err());
                String errors = String.join("\n", r.out().lines().filter(l -> l.startsWith("  error:")).toList());
                for (JsonNode s : c.getValue().get("expect")) {
                    assertTrue(errors.contains(s.asText()), "'" + s.asText() + "' in\n" + errors);
                }
            }));
        }
        assertEquals(6, tests.size());
        return tests;
    }

    @ParameterizedTest
    @CsvSource({
            "'--ep=2,--etp=3', '--etp: ETP 3: moe_intermediate_size 32 is not divisible by 3'",
            "'--ep=3', '--ep: EP 3: num_local_experts 4 is not divisible by 3'",
            "'--tp=3', '--tp: TP 3: moe_intermediate_size 32 is not divisible by 3; expert weights split over the expert-tensor-parallel ranks (ETP defaults to TP)'"})
    void moeLayoutRules(String options, String expected) {
        List<String> args = new ArrayList<>(List.of("check", Cli.fixtures().resolve("check/qwen3_moe").toString()));
        args.addAll(List.of(options.split(",")));
        Cli r = Cli.run(args.toArray(String[]::new));
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains(expected), expected + " in\n" + r.out());
    }

    @org.junit.jupiter.api.Test
    void aFittingMoeLayoutReportsLocalExpertsAndTheirShapes() {
        Cli r = Cli.run("check", Cli.fixtures().resolve("check/qwen3_moe").toString(), "--tp=2", "--ep=2", "--etp=1");
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("2 local experts per EP rank (of 4)"), r.out());
        assertTrue(r.out().contains("expert linear_fc1 [64, 64], expert linear_fc2 [64, 32]"), r.out());
    }

    /** Megatron-Core's start-up rules: the world splits into TP x PP x CP replicas and into ETP x EP x PP expert grids. */
    @Test
    void theWorldSizeMustDivideIntoTheDenseAndTheExpertGrids() {
        String moe = Cli.fixtures().resolve("check/qwen3_moe").toString();
        Cli r = Cli.run("check", moe, "--tp", "2", "--ep", "2", "--world-size", "6");
        assertEquals(1, r.exit(), r.out());
        assertTrue(r.out().contains("error: --world-size: 6 GPUs are not divisible by ETP × EP × PP = 2 × 2 × 1 = 4"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("  data parallel +3")), r.out());

        Cli ok = Cli.run("check", moe, "--tp", "2", "--ep", "2", "--world-size", "8");
        assertEquals(0, ok.exit(), ok.out());
        assertTrue(ok.out().lines().anyMatch(l -> l.matches("  data parallel +4")), ok.out());
        assertTrue(ok.out().lines().anyMatch(l -> l.matches("  expert data parallel +2")), ok.out());

        Cli etp = Cli.run("check", moe, "--tp", "2", "--ep", "2", "--etp", "1", "--world-size", "6");
        assertEquals(0, etp.exit(), etp.out()); // ETP 1: the expert grid is 1 x 2 x 1 = 2, which divides 6
        assertTrue(etp.out().lines().anyMatch(l -> l.matches("  expert data parallel +3")), etp.out());

        Cli dense = Cli.run("check", Cli.fixtures().resolve("check/llama").toString(), "--tp", "2", "--pp", "2", "--cp", "2",
                "--world-size", "12");
        assertEquals(1, dense.exit(), dense.out());
        assertTrue(dense.out().contains("12 GPUs are not divisible by TP × PP × CP = 2 × 2 × 2 = 8"), dense.out());
        assertEquals(2, Cli.run("check", moe, "--world-size", "0").exit());
    }
}
