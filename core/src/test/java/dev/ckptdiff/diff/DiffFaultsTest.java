package dev.ckptdiff.diff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.ckptdiff.Fixtures;

/** Each planted fault must come out as exactly that fault, at that place, and nothing else. */
class DiffFaultsTest {
    private static final JsonNode FAULTS = Fixtures.json(Fixtures.path("faults/FAULTS.json"));

    static Comparison diff(Path... paths) {
        Differ d = new Differ(new VectorEngine(), new Differ.Options(Tolerance.DEFAULT, false, 2), b -> { });
        List<DiffJob.Pair> pairs = DiffJob.pairs(List.of(paths));
        assertEquals(1, pairs.size());
        return DiffJob.compare(pairs.getFirst(), d, b -> { });
    }

    static Comparison fault(String name) {
        return diff(Fixtures.path("faults/" + name + "/global_step_10"));
    }

    static Map<String, TensorResult> findings(Comparison c) {
        return c.outcome().tensors().stream().filter(t -> t.verdict().isFinding())
                .collect(Collectors.toMap(TensorResult::name, t -> t));
    }

    static List<TensorResult> failedChecks(Comparison c) {
        return c.outcome().checks().stream().filter(t -> t.verdict().isFinding()).toList();
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama_tp2", "qwen2_tp2_pp2", "qwen3_pp2_vpp2"})
    void cleanStepFoldersAreIdentical(String model) {
        Comparison c = diff(Fixtures.step(model));
        assertEquals(0, c.findings(), () -> findings(c).keySet().toString());
        assertTrue(c.outcome().tensors().stream().allMatch(t -> t.verdict() == Verdict.IDENTICAL));
        int hfTensors = Fixtures.json(Fixtures.step(model).resolve("actor").resolve(
                model.startsWith("qwen2") ? "hf_checkpoint" : "hf_model").resolve("weights.manifest.json")).get("tensors").size();
        assertEquals(hfTensors, c.outcome().tensors().size(), "every HF tensor compared, none left over");
        assertTrue(c.outcome().checks().stream().allMatch(t -> t.verdict() == Verdict.IDENTICAL));
    }

    @Test
    void oneChangedElementIsFoundAtItsIndexAndShard() {
        assertOneElementFault(FAULTS.get("hf_element"), fault("hf_element"));
    }

    /** Exactly one finding: one element of {@code f.tensor}, at {@code f.index}, traced to its shard file, key and index. */
    static void assertOneElementFault(JsonNode f, Comparison c) {
        Map<String, TensorResult> bad = findings(c);
        assertEquals(List.of(f.get("tensor").asText()), List.copyOf(bad.keySet()));
        TensorResult t = bad.get(f.get("tensor").asText());
        assertEquals(Verdict.DIFFERENT, t.verdict());
        assertEquals(1, t.stats().count - t.stats().equal);
        assertEquals(1, t.where().size());
        TensorResult.Where w = t.where().getFirst();
        assertEquals(f.get("megatron_file").asText(), w.b().file());
        assertEquals(f.get("megatron_key").asText(), w.b().key());
        assertEquals(f.get("index").toString().replace(",", ", "), w.max().hfIndex());
        assertEquals(f.get("shard_index").toString().replace(",", ", "), w.max().indexB());
        assertEquals(1, c.findings());
    }

    @Test
    void kvRowsSwappedInOneShardAreTracedToThatShard() {
        JsonNode f = FAULTS.get("qkv_kv_swap");
        Comparison c = fault("qkv_kv_swap");
        Map<String, TensorResult> bad = findings(c);
        assertEquals(2, bad.size());
        for (JsonNode name : f.get("tensors")) {
            TensorResult t = bad.get(name.asText());
            assertNotNull(t, name.asText());
            assertEquals(1, t.where().size(), "only one shard holds the fault");
            assertEquals(f.get("megatron_file").asText(), t.where().getFirst().b().file());
            assertEquals(f.get("megatron_key").asText(), t.where().getFirst().b().key());
            assertEquals(name.asText().contains("k_proj") ? "k" : "v", t.where().getFirst().b().part());
            assertTrue(t.notes().stream().anyMatch(n -> n.startsWith("looks swapped")), t.notes().toString());
        }
    }

    @Test
    void gateAndUpSwappedInTheExportAreCalledASwap() {
        Comparison c = fault("hf_gate_up_swap");
        Map<String, TensorResult> bad = findings(c);

        assertEquals(2, bad.size());
        for (JsonNode name : FAULTS.get("hf_gate_up_swap").get("tensors")) {
            TensorResult t = bad.get(name.asText());
            assertNotNull(t);
            assertTrue(t.notes().stream().anyMatch(n -> n.startsWith("looks swapped")), t.notes().toString());
        }

    }

    @Test
    void aMissingTensorIsOnlyInTheOtherCopy() {
        Comparison c = fault("hf_missing");
        Map<String, TensorResult> bad = findings(c);
        assertEquals(1, bad.size());
        assertEquals(Verdict.ONLY_IN_B, bad.get(FAULTS.get("hf_missing").get("tensor").asText()).verdict());
    }

    @Test
    void aNanInOneShardIsNonFiniteThere() {
        JsonNode f = FAULTS.get("shard_nan");
        Comparison c = fault("shard_nan");
        Map<String, TensorResult> bad = findings(c);
        assertEquals(1, bad.size());
        TensorResult t = bad.get(f.get("tensor").asText());
        assertEquals(Verdict.NON_FINITE, t.verdict());
        assertEquals(1, t.stats().nanB);
        assertEquals(0, t.stats().nanA);
        TensorResult.Where w = t.where().getFirst();
        assertEquals(f.get("megatron_file").asText(), w.b().file());
        assertEquals(f.get("shard_index").toString().replace(",", ", "), w.first().indexB());
        assertTrue(Double.isNaN(w.first().b()));
    }

    @Test
    void anFp16ExportIsJudgedByToleranceNotBytes() {
        Comparison c = fault("hf_fp16");
        assertEquals(0, c.findings());
        assertTrue(c.outcome().tensors().stream().allMatch(t -> t.dtypeA().equals("F16") && t.dtypeB().equals("BF16")));
        assertTrue(c.count(Verdict.WITHIN_TOLERANCE) > 0, "fp16 rounding of small values shows");
    }

    @Test
    void aTiedLmHeadThatDiffersFromTheEmbeddingIsACheckFailure() {
        Comparison c = fault("tied_lm_head");
        assertTrue(findings(c).isEmpty());
        List<TensorResult> failed = failedChecks(c);
        assertEquals(1, failed.size());
        assertEquals("tied copy", failed.getFirst().kind());
        assertTrue(failed.getFirst().name().startsWith("lm_head.weight"));
        assertEquals("[10, 3]", failed.getFirst().where().getFirst().max().hfIndex());
    }

    @Test
    void aReplicatedNormThatDiffersOnRankOneIsNamedWithBothRanks() {
        JsonNode f = FAULTS.get("replicated_norm");
        Comparison c = fault("replicated_norm");
        assertTrue(findings(c).isEmpty());
        List<TensorResult> failed = failedChecks(c);
        assertEquals(1, failed.size());
        TensorResult t = failed.getFirst();
        assertEquals("replica", t.kind());
        assertTrue(t.name().startsWith(f.get("megatron_key").asText()));
        TensorResult.Where w = t.where().getFirst();
        assertEquals(f.get("ranks").get(0).asText(), w.a().file());
        assertEquals(f.get("ranks").get(1).asText(), w.b().file());
        assertEquals("[11]", w.max().hfIndex());
    }

    @Test
    void megatronLayoutsOfTheSameWeightsAgree() {
        Comparison c = diff(Fixtures.step("llama_tp2").resolve("actor/iter_0000010"),
                Fixtures.path("llama_tp1_pp2_local/actor"));
        assertEquals(0, c.findings());
        assertEquals(39, c.count(Verdict.IDENTICAL));
    }

    @Test
    void twoHfExportsCompare() {
        Comparison c = diff(Fixtures.step("llama_tp2").resolve("actor/hf_model"),
                Fixtures.path("faults/hf_fp16/global_step_10/actor/hf_model"));
        assertEquals(0, c.findings());
        assertEquals(39, c.outcome().tensors().size());
    }
}
