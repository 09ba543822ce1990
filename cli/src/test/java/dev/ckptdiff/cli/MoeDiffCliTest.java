package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** ckpt-diff on Qwen3-MoE steps (testdata/make_moe.py). */
class MoeDiffCliTest {
    private static String step(String name) {
        return Cli.fixtures().resolve("moe/" + name + "/global_step_10").toString();
    }


    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe_tp2", "qwen3_moe_ep2"})
    void cleanMoeStepsAreExitZero(String name) {
        Cli r = Cli.run("--no-progress", step(name));
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("qwen3_moe, 80 tensors: 80 identical"), r.out());
        assertTrue(r.out().contains("8 experts: 8 identical"), r.out());
        assertTrue(r.out().contains(name.endsWith("ep2") ? "8 experts over EP=2, ETP=1 (grouped)" : "8 experts, ETP=2 (sequential)"), r.out());
    }

    @Test
    void anExpertElementOnEpRankOneNamesTensorFolderKeyAndElement() {
        Cli r = Cli.run("--no-progress", step("faults/expert_element_ep1"));
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("model.layers.2.mlp.experts.6.down_proj.weight  different"), r.out());
        assertTrue(r.out().contains("B mp_rank_00_001 decoder.layers.2.mlp.experts.linear_fc2.weight2"), r.out());
        assertTrue(r.out().contains("worst element [5, 7]"), r.out());
        assertTrue(r.out().contains("8 experts: 7 identical, 1 different: 6"), r.out());
    }

    @Test
    void swappedExpertsLookSwappedAndTheTableGroupsThem() {
        Cli r = Cli.run("--no-progress", step("faults/hf_experts_swapped"));
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("looks swapped: A's model.layers.0.mlp.experts.3.down_proj.weight equals B's"
                + " model.layers.0.mlp.experts.5.down_proj.weight"), r.out());
        assertTrue(r.out().contains("9 identical; 8 experts: 6 identical, 2 different: 3, 5"), r.out());
    }

    @Test
    void aNonExpertWeightDifferingBetweenEpFoldersIsACheckNamingBoth() {
        Cli r = Cli.run("--no-progress", step("faults/ep_replica"));
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("A mp_rank_00_000 decoder.layers.0.self_attention.linear_proj.weight"
                + " / B mp_rank_00_001 decoder.layers.0.self_attention.linear_proj.weight"), r.out());
    }

    @Test
    void argsWithFewerExpertsThanTheShardsHoldIsOneLineOfBadInput() {
        for (String command : new String[]{"diff", "check"}) {
            Cli r = command.equals("diff") ? Cli.run("--no-progress", step("bad/args_fewer_experts"))
                    : Cli.run("check", step("bad/args_fewer_experts"));
            assertEquals(2, r.exit(), r.out() + r.err());
            String err = r.err().strip();
            assertEquals(1, err.lines().count(), err);
            assertTrue(err.startsWith("ckpt-diff: ") && err.endsWith("iter_0000010: shards hold local expert 3 but args"
                    + " give 4 experts / EP=2 = 2 per rank"), err);
        }
    }
}
