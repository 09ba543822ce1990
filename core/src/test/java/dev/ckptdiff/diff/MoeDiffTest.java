package dev.ckptdiff.diff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.megatron.ExpertLayout;
import dev.ckptdiff.megatron.MegatronCheckpoint;

/** Qwen3-MoE steps (testdata/make_moe.py): both expert forms, EP folders, and each planted MoE fault. */
class MoeDiffTest {
    private static final JsonNode FAULTS = Fixtures.json(Fixtures.path("moe/faults/FAULTS.json"));

    private static Comparison fault(String name) {
        return DiffFaultsTest.diff(Fixtures.path("moe/faults/" + name + "/global_step_10"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe_tp2", "qwen3_moe_ep2", "qwen3_moe_tp2_ep2"})
    void cleanMoeStepsAreIdentical(String model) {
        Comparison c = DiffFaultsTest.diff(Fixtures.path("moe/" + model + "/global_step_10"));
        assertEquals(0, c.findings(), () -> DiffFaultsTest.findings(c).keySet().toString());
        assertEquals("qwen3_moe", c.architecture());
        int hf = Fixtures.json(Fixtures.path("moe/" + model + "/global_step_10/actor/hf_model/weights.manifest.json"))
                .get("tensors").size();
        assertEquals(hf, c.outcome().tensors().size(), "every HF tensor, each expert's included, compared");
        assertTrue(c.outcome().tensors().stream().allMatch(t -> t.verdict() == Verdict.IDENTICAL));
        assertTrue(c.outcome().checks().stream().allMatch(t -> t.verdict() == Verdict.IDENTICAL));
        assertEquals(24, c.outcome().tensors().stream().filter(t -> ExpertGroups.expertOf(t.name()) >= 0
                && t.name().startsWith("model.layers.2.")).count(), "8 experts x 3 tensors in MoE layer 2");
        assertTrue(c.outcome().tensors().stream().anyMatch(t -> t.name().equals("model.layers.1.mlp.gate_proj.weight")),
                "layer 1 is dense (mlp_only_layers)");
    }

    @Test
    void expertLayoutComesFromArgsAndKeys() {
        try (MegatronCheckpoint m = MegatronCheckpoint.open(Fixtures.path("moe/qwen3_moe_tp2_ep2/global_step_10/actor"))) {
            assertEquals(new ExpertLayout(8, 2, 2, 4, true), m.experts());
            assertEquals(4, m.shards().size());
        }
        try (MegatronCheckpoint m = MegatronCheckpoint.open(Fixtures.path("moe/qwen3_moe_tp2/global_step_10/actor"))) {
            assertEquals(new ExpertLayout(8, 1, 2, 8, false), m.experts());
        }
    }

    @Test
    void nonExpertWeightsAreCheckedAcrossEpFolders() {
        Comparison c = DiffFaultsTest.diff(Fixtures.path("moe/qwen3_moe_tp2_ep2/global_step_10"));
        // Every non-expert key on EP rank 1 is a replica of EP rank 0's: e.g. the attention projection.
        assertTrue(c.outcome().checks().stream().anyMatch(t -> t.name().startsWith(
                "decoder.layers.0.self_attention.linear_proj.weight") && t.where().isEmpty()
                && t.verdict() == Verdict.IDENTICAL));
    }

    @Test
    void oneElementOfOneExpertOnEpRankOneIsFoundThere() {
        JsonNode f = FAULTS.get("expert_element_ep1");
        Comparison c = fault("expert_element_ep1");
        Map<String, TensorResult> bad = DiffFaultsTest.findings(c);
        assertEquals(List.of(f.get("tensor").asText()), List.copyOf(bad.keySet()));
        TensorResult t = bad.get(f.get("tensor").asText());
        assertEquals(1, t.stats().count - t.stats().equal);
        TensorResult.Where w = t.where().getFirst();
        assertEquals(f.get("megatron_file").asText(), w.b().file());
        assertEquals(f.get("megatron_key").asText(), w.b().key(), "the key as stored, local expert number");
        assertEquals(f.get("index").toString().replace(",", ", "), w.max().hfIndex());
        assertEquals(f.get("shard_index").toString().replace(",", ", "), w.max().indexB());
        assertEquals(1, c.findings());
    }

    @Test
    void twoSwappedExpertsLookSwapped() {
        JsonNode f = FAULTS.get("hf_experts_swapped");
        Comparison c = fault("hf_experts_swapped");
        Map<String, TensorResult> bad = DiffFaultsTest.findings(c);
        assertEquals(6, bad.size());
        for (JsonNode name : f.get("tensors")) {
            TensorResult t = bad.get(name.asText());
            assertEquals(Verdict.DIFFERENT, t.verdict(), name.asText());
            assertTrue(t.notes().stream().anyMatch(n -> n.startsWith("looks swapped")), t.notes().toString());
        }
        assertEquals("8 experts: 6 identical, 2 different: 3, 5", ExpertGroups.summary(
                c.outcome().tensors().stream().filter(t -> t.layerGroup().equals("model.layers.0")).toList()));
    }

    @Test
    void aChangedRouterRowIsTheRouterThere() {
        JsonNode f = FAULTS.get("router_row");
        Comparison c = fault("router_row");
        Map<String, TensorResult> bad = DiffFaultsTest.findings(c);
        assertEquals(List.of(f.get("tensor").asText()), List.copyOf(bad.keySet()));
        TensorResult t = bad.get(f.get("tensor").asText());
        assertEquals(64, t.stats().count - t.stats().equal, "one row of hidden size 64");
        assertEquals(f.get("megatron_key").asText(), t.where().getFirst().b().key());
        assertTrue(t.where().getFirst().max().hfIndex().startsWith("[" + f.get("row").asInt() + ","));
        assertTrue(DiffFaultsTest.failedChecks(c).isEmpty(), "the change is on every rank: replicas agree");
    }

    @Test
    void aNonExpertWeightDifferingBetweenEpFoldersNamesBoth() {
        JsonNode f = FAULTS.get("ep_replica");
        Comparison c = fault("ep_replica");
        assertTrue(DiffFaultsTest.findings(c).isEmpty(), "EP rank 0's copy matches HF");
        List<TensorResult> failed = DiffFaultsTest.failedChecks(c);
        assertEquals(1, failed.size());
        TensorResult t = failed.getFirst();
        assertEquals("replica", t.kind());
        assertTrue(t.name().startsWith(f.get("megatron_key").asText()));
        TensorResult.Where w = t.where().getFirst();
        assertEquals(f.get("folders").get(0).asText(), w.a().file());
        assertEquals(f.get("folders").get(1).asText(), w.b().file());
        assertEquals("[2, 3]", w.max().hfIndex());
    }

    @Test
    void megatronEpAndTpLayoutsOfTheSameWeightsAgree() {
        Comparison c = DiffFaultsTest.diff(Fixtures.path("moe/qwen3_moe_tp2/global_step_10/actor/iter_0000010"),
                Fixtures.path("moe/qwen3_moe_ep2/global_step_10/actor/iter_0000010"));
        assertEquals(0, c.findings());
        assertEquals(80, c.count(Verdict.IDENTICAL));
    }
}
