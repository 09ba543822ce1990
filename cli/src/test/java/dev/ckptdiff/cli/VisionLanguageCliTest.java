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
import org.junit.jupiter.params.provider.ValueSource;

/** Qwen2.5-VL and Qwen3-VL step folders as Megatron-Bridge saves them, through the command line. */
class VisionLanguageCliTest {
    static Path vl(String name) {
        return Cli.fixtures().resolve("vl").resolve(name).resolve("global_step_10");
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen25vl_tp2", "qwen25vl_tp2_pp2", "qwen3vl_tp2"})
    void cleanVlStepsAreSameAndPassCheck(String name) {
        Cli r = Cli.run("--no-progress", vl(name).toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("SAME: 0 finding(s)"), r.out());
        Cli c = Cli.run("check", vl(name).toString());
        assertEquals(0, c.exit(), c.out() + c.err());
        assertTrue(c.out().contains("vision tower") && c.out().contains("blocks on stage 0"), c.out());
        assertFalse(c.out().contains("error:") || c.out().contains("warning:"), c.out());
    }

    @Test
    void aRankOneVisionReplicaIsNamedWithItsRankFolder() {
        Cli r = Cli.run("--no-progress", Cli.fixtures().resolve("vl/faults/vl_replica_rank1/global_step_10").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("visual.blocks.1.attn.proj.weight (B)  different"), r.out());
        assertTrue(r.out().contains("replicated on every rank: mp_rank_01 must equal mp_rank_00"), r.out());
    }

    @Test
    void swappedVisionQAndKAreBlamedOnTheHead() {
        Cli r = Cli.run("--no-progress", Cli.fixtures().resolve("vl/faults/vl_qk_swap/global_step_10").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("model.visual.blocks.1.attn.qkv.weight  different"), r.out());
        assertTrue(r.out().contains("mp_rank_01 vision_model.decoder.layers.1.self_attention.linear_qkv.weight [q head 1]"), r.out());
        assertTrue(r.out().contains("[k head 1]"), r.out());
        assertFalse(r.out().contains("[v head"), r.out());
    }

    @Test
    void aMissingVisionTensorInTheHfExportIsOnlyInMegatron() {
        Cli r = Cli.run("--no-progress", Cli.fixtures().resolve("vl/faults/vl_hf_missing/global_step_10").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("model.visual.deepstack_merger_list.1.linear_fc2.weight  only in B"), r.out());
    }

    @TestFactory
    List<DynamicTest> checkFaultsEachVlRule() {
        JsonNode cases = Cli.read(Cli.fixtures().resolve("vl/CHECKS.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : cases.properties()) {
            tests.add(DynamicTest.dynamicTest(e.getKey(), () -> {
                Cli r = Cli.run("check", Cli.fixtures().resolve("vl/check").resolve(e.getKey()).resolve("global_step_10")
                        .toString());
                assertEquals(1, r.exit(), r.out() + r.err());
                for (JsonNode s : e.getValue().get("expect")) {
                    assertTrue(r.out().contains(s.asText()), "'" + s.asText() + "' in\n" + r.out());
                }
            }));
        }
        return tests;
    }

    /** Deepstack feature i enters language layer i: the count of indexes decides, not the vision block numbers. */
    @Test
    void deepstackFeaturesNeedAsManyLayersOnTheFirstStageAsThereAreIndexes() {
        String hf = Cli.fixtures().resolve("vl/check/deepstack_late_block").toString(); // indexes [0, 2], 4 layers
        Cli two = Cli.run("check", hf, "--tp", "1", "--pp", "2");
        assertEquals(0, two.exit(), two.out());
        assertFalse(two.out().contains("deepstack_visual_indexes [0, 2] feed"), two.out());
        Cli four = Cli.run("check", hf, "--tp", "1", "--pp", "4");
        assertEquals(1, four.exit(), four.out());
        assertTrue(four.out().contains("feed 2 vision features into language layers 0..1"), four.out());
    }
}
