package dev.ckptdiff.diff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.ckptdiff.Fixtures;

/** Qwen2.5-VL and Qwen3-VL step folders as Megatron-Bridge saves them (testdata/make_vl.py). */
class VisionLanguageDiffTest {
    private static final JsonNode FAULTS = Fixtures.json(Fixtures.path("vl/FAULTS.json"));

    private static Comparison step(String name) {
        return DiffFaultsTest.diff(Fixtures.path("vl/" + name + "/global_step_10"));
    }

    private static Set<String> hfNames(String name) {
        Set<String> names = new TreeSet<>();
        Fixtures.json(Fixtures.path("vl/" + name + "/global_step_10/actor/hf_checkpoint/weights.manifest.json"))
                .get("tensors").fieldNames().forEachRemaining(names::add);
        return names;
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen25vl_tp2", "qwen25vl_tp2_pp2", "qwen3vl_tp2"})
    void cleanStepsAreIdenticalUnderTheHfCopysOwnNames(String name) {
        Comparison c = step(name);
        assertEquals(0, c.findings(), () -> DiffFaultsTest.findings(c).keySet().toString());
        assertTrue(c.outcome().tensors().stream().allMatch(t -> t.verdict() == Verdict.IDENTICAL));
        Set<String> compared = new TreeSet<>(c.outcome().tensors().stream().map(TensorResult::name).toList());
        assertEquals(hfNames(name), compared, "every HF tensor, under its own name, and nothing else");
        assertTrue(c.outcome().checks().stream().allMatch(t -> t.verdict() == Verdict.IDENTICAL));
        // The vision tower is replicated on both TP ranks: its replicas are checked, not skipped.
        long visionReplicas = c.outcome().checks().stream()
                .filter(t -> t.name().startsWith("visual.") || t.name().startsWith("vision_model.")).count();
        assertTrue(visionReplicas > 10, "vision replica checks: " + visionReplicas);
    }

    @Test
    void bothKeyLayoutsOccur() {
        assertTrue(hfNames("qwen25vl_tp2").contains("visual.blocks.0.attn.qkv.weight"));
        assertTrue(hfNames("qwen25vl_tp2").contains("model.layers.0.mlp.down_proj.weight"));
        assertTrue(hfNames("qwen25vl_tp2_pp2").contains("model.visual.blocks.0.attn.qkv.weight"));
        assertTrue(hfNames("qwen25vl_tp2_pp2").contains("model.language_model.layers.0.mlp.down_proj.weight"));
    }

    @Test
    void aVisionWeightDifferentOnRankOneIsAReplicaFindingNamingThatRank() {
        JsonNode f = FAULTS.get("vl_replica_rank1");
        Comparison c = step("faults/vl_replica_rank1");
        assertEquals(Map.of(), DiffFaultsTest.findings(c), "the tensors themselves agree (rank 0 is compared)");
        List<TensorResult> failed = DiffFaultsTest.failedChecks(c);
        assertEquals(1, failed.size());
        TensorResult t = failed.getFirst();
        assertEquals(f.get("megatron_key").asText() + " (B)", t.name());
        assertEquals("replica", t.kind());
        assertEquals(1, t.stats().count - t.stats().equal);
        TensorResult.Where w = t.where().getFirst();
        assertEquals(f.get("reference").asText(), w.a().file());
        assertEquals(f.get("rank_folder").asText(), w.b().file());
        assertEquals(f.get("index").toString().replace(",", ", "), w.max().hfIndex());
        assertEquals(1, c.findings());
    }

    @Test
    void aVisionTensorMissingFromTheHfExportIsOnlyInMegatron() {
        String gone = FAULTS.get("vl_hf_missing").get("tensor").asText();
        Comparison c = step("faults/vl_hf_missing");
        Map<String, TensorResult> bad = DiffFaultsTest.findings(c);
        assertEquals(Set.of(gone), bad.keySet());
        assertEquals(Verdict.ONLY_IN_B, bad.get(gone).verdict());
        assertEquals(1, c.findings());
    }

    @Test
    void qAndKSwappedInOneVisionHeadAreBlamedOnThatHeadsQAndK() {
        JsonNode f = FAULTS.get("vl_qk_swap");
        Comparison c = step("faults/vl_qk_swap");
        Map<String, TensorResult> bad = DiffFaultsTest.findings(c);
        String name = f.get("tensor").asText();
        assertEquals(Set.of(name), bad.keySet());
        TensorResult t = bad.get(name);
        Set<String> parts = new TreeSet<>();
        for (TensorResult.Where w : t.where()) {
            assertEquals(f.get("megatron_file").asText(), w.b().file());
            assertEquals(f.get("megatron_key").asText(), w.b().key());
            parts.add(w.b().part());
        }
        int head = f.get("head").asInt();
        assertEquals(Set.of("q head " + head, "k head " + head), parts);
        // hd = 16 rows per head, 2 heads: HF rows of q head 1 start at 16, of k head 1 at 2*16 + 16.
        assertEquals(2 * 16 * 32, t.stats().count - t.stats().equal, "all of q and k of that head, nothing of v");
        assertEquals(1, c.findings());
    }

    @Test
    void oneLanguageModelElementOnTheSecondStageIsFoundAtItsIndexAndShard() {
        DiffFaultsTest.assertOneElementFault(FAULTS.get("vl_lm_element"), step("faults/vl_lm_element"));
    }

    @Test
    void megatronAgainstMegatronOfTheSameVlModelIsIdentical() {
        Path a = Fixtures.path("vl/qwen3vl_tp2/global_step_10/actor/iter_0000010");
        Comparison c = DiffFaultsTest.diff(a, a);
        assertEquals(0, c.findings());
    }
}
