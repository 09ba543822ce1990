package dev.ckptdiff.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;

/** Real Megatron-Core distributed-optimizer step folders (testdata/make_optim.py) and planted faults. */
class OptimizerCheckTest {
    static final List<String> CLEAN = List.of("dense_dp2/global_step_3", "dense_dp2/global_step_2",
            "dense_tp2/global_step_3", "dense_pp2_tied/global_step_3", "moe_ep2/global_step_3",
            "per_bucket/dense_dp2/global_step_3", "per_bucket/moe_ep2/global_step_3",
            "gaps/clean/global_step_1");

    static List<Path> rankFolders() {
        return Fixtures.find("optim/**/mp_rank_*/distrib_optim.pt").stream().map(Path::getParent)
                .filter(p -> !p.toString().contains("short_bucket")).toList(); // bad input, tested in the CLI
    }

    @Test
    void recomputedLayoutEqualsMegatronsParamIndexMapInEveryFolder() {
        List<Path> folders = rankFolders();
        assertTrue(folders.size() == 19, "fixtures: " + folders);
        for (Path folder : folders) {
            JsonNode want = Fixtures.json(folder.resolve("megatron_layout.json"));
            try (MegatronCheckpoint ckpt = MegatronCheckpoint.open(folder.resolve(MegatronCheckpoint.FILE));
                 OptimizerFile file = OptimizerFile.open(folder.resolve(OptimizerFile.NAME))) {
                RankLayout layout = RankLayout.of(ckpt.args(), ckpt.shards().getFirst(), file);
                assertNull(layout.unproven(), folder.toString());
                assertTrue(layout.alignedStarts(), folder.toString());
                List<GradBuffer> got = layout.optimizers().stream().flatMap(List::stream).toList();
                assertEquals(want.size(), got.size(), folder + ": buffers");
                for (int i = 0; i < got.size(); i++) {
                    GradBuffer g = got.get(i);
                    JsonNode w = want.get(i);
                    String at = folder + " buffer " + i;
                    assertEquals(w.get("kind").asText(), g.kind().name().toLowerCase(), at);
                    assertEquals(w.get("param_dtype").asText(), "torch." + g.paramDtype(), at);
                    assertEquals(w.get("grad_dtype").asText(), "torch." + g.gradDtype(), at);
                    assertEquals(w.get("dp_size").asInt(), g.dpSize(), at);
                    List<String> wb = new ArrayList<>();
                    w.get("buckets").forEach(b -> wb.add(b.get("offset").asLong() + "+" + b.get("numel_unpadded").asLong()
                            + "/" + b.get("numel").asLong()));
                    assertEquals(wb, g.buckets().stream().map(b -> b.offset() + "+" + b.numelUnpadded() + "/" + b.numel()).toList(), at);
                    List<String> wp = new ArrayList<>();
                    w.get("params").forEach(p -> wp.add(p.get("name").asText() + "@" + p.get("start").asLong() + ".."
                            + p.get("end").asLong() + "#" + p.get("bucket").asInt()));
                    assertEquals(wp, g.params().stream().sorted(java.util.Comparator.comparingLong(GradBuffer.Placement::start))
                            .map(p -> p.name() + "@" + p.start() + ".." + p.end() + "#" + p.bucket()).toList(), at);
                }
            }
        }
    }

    @Test
    void cleanStepsHaveMastersThatMatchTheirWeights() {
        for (String step : CLEAN) {
            OptimizerCheck.Report r = OptimizerCheck.run(Fixtures.path("optim/" + step));
            assertEquals(List.of(), r.findings(), step);
            assertTrue(r.mastersMatch(), step);
            assertEquals("masters match weights", r.summary(), step);
            // every parameter of every folder, as Megatron placed them (a folder without the dense state borrows it)
            int want = 0;
            for (Path layout : Fixtures.find("optim/" + step + "/**/megatron_layout.json")) {
                for (JsonNode b : Fixtures.json(layout)) {
                    want += b.get("params").size();
                }
            }
            assertEquals(want, r.ranks().stream().mapToInt(MasterCheck.RankCheck::paramsChecked).sum(), step);
        }
    }

    static JsonNode faults() {
        return Fixtures.json(Fixtures.path("optim/faults/FAULTS.json"));
    }

    static OptimizerCheck.Report fault(String name) {
        return OptimizerCheck.run(Fixtures.path("optim/faults/" + name + "/global_step_3"));
    }

    @Test
    void staleLayerNamesEveryParameterOfThatLayer() {
        JsonNode f = faults().get("stale_layer");
        OptimizerCheck.Report r = fault("stale_layer");
        assertFalse(r.mastersMatch());
        assertTrue(r.summary().contains("will resume onto other weights"), r.summary());
        Set<String> named = new TreeSet<>();
        for (OptimFinding x : r.findings()) {
            assertEquals(OptimFinding.Kind.MASTER_MISMATCH, x.kind(), x.toString());
            assertEquals(f.get("folder").asText(), x.folder());
            named.add(x.param());
        }
        Set<String> want = new TreeSet<>();
        f.get("params").forEach(p -> want.add(p.asText()));
        assertEquals(want, named);
    }

    @Test
    void oneUlpOffIsNamedAtItsElementAndFlatOffset() {
        JsonNode f = faults().get("ulp_off");
        OptimizerCheck.Report r = fault("ulp_off");
        assertEquals(1, r.findings().size(), r.findings().toString());
        OptimFinding x = r.findings().getFirst();
        assertEquals(OptimFinding.Kind.MASTER_MISMATCH, x.kind());
        assertEquals(f.get("folder").asText(), x.folder());
        assertEquals(f.get("param").asText(), x.param());
        assertEquals(f.get("element").asLong(), x.element());
        assertEquals(f.get("flat_offset").asLong(), x.flatOffset());
        assertTrue(x.message().contains("(1 of 4096 elements differ)"), x.message());
        assertFalse(r.mastersMatch());
    }

    @Test
    void nanInExpAvgSqIsNamedButMastersStillMatch() {
        JsonNode f = faults().get("nan_exp_avg_sq");
        OptimizerCheck.Report r = fault("nan_exp_avg_sq");
        assertEquals(1, r.findings().size(), r.findings().toString());
        OptimFinding x = r.findings().getFirst();
        assertEquals(OptimFinding.Kind.BAD_MOMENT, x.kind());
        assertEquals(f.get("folder").asText(), x.folder());
        assertEquals(f.get("param").asText(), x.param());
        assertEquals(f.get("element").asLong(), x.element());
        assertEquals(f.get("flat_offset").asLong(), x.flatOffset());
        assertTrue(x.message().startsWith("exp_avg_sq is NaN"), x.message());
        assertTrue(r.mastersMatch());
        assertTrue(r.summary().startsWith("masters match weights; 1 parameter(s) with bad optimizer moments"), r.summary());
    }

    @Test
    void optimizerFromAnotherStepMismatchesEveryParameter() {
        OptimizerCheck.Report r = fault("other_step");
        assertEquals(31, r.findings().size());
        assertTrue(r.findings().stream().allMatch(x -> x.kind() == OptimFinding.Kind.MASTER_MISMATCH
                && x.folder().equals("mp_rank_00") && x.element() >= 0));
        assertFalse(r.mastersMatch());
    }

    /** The real args with some values replaced: the layout they give must not be proven, and say why. */
    static MegatronArgs argsWith(MegatronArgs real, String key, Py value) {
        Py.Dict attrs = PyValues.attributes(real.value());
        Py.Dict copy = new Py.Dict();
        for (int i = 0; i < attrs.size(); i++) {
            Py v = attrs.keys.get(i) instanceof Py.Str(String s) && s.equals(key) ? value : attrs.values.get(i);
            copy.put(attrs.keys.get(i), v);
        }
        return new MegatronArgs(copy, java.nio.file.Path.of("model_optim_rng.pt"));
    }

    @Test
    void wrongOrUnknownSettingsAreNotProven() {
        Path folder = Fixtures.path("optim/dense_dp2/global_step_3/actor/iter_0000003/mp_rank_00");
        try (MegatronCheckpoint ckpt = MegatronCheckpoint.open(folder.resolve(MegatronCheckpoint.FILE));
             OptimizerFile file = OptimizerFile.open(folder.resolve(OptimizerFile.NAME))) {
            var shard = ckpt.shards().getFirst();
            // Grads reduced in bf16 would make a (bfloat16, bfloat16) buffer; the file holds (bfloat16, float32).
            RankLayout wrong = RankLayout.of(argsWith(argsWith(ckpt.args(), "accumulate_allreduce_grads_in_fp32",
                    new Py.Bool(false)), "bf16", new Py.Bool(false)), shard, file);
            assertFalse(wrong.proven());
            assertTrue(wrong.unproven().contains("file dtypes (bfloat16, float32) differ from (bfloat16, bfloat16)"),
                    wrong.unproven());
            RankLayout noOverlap = RankLayout.of(argsWith(ckpt.args(), "overlap_grad_reduce", Py.None.INSTANCE), shard, file);
            assertTrue(noOverlap.unproven().contains("overlap_grad_reduce"), noOverlap.unproven());
            RankLayout nb = RankLayout.of(argsWith(argsWith(ckpt.args(), "ddp_num_buckets", new Py.Int(4)),
                    "ddp_bucket_size", Py.None.INSTANCE), shard, file);
            assertTrue(nb.unproven().contains("ddp_num_buckets"), nb.unproven());
            RankLayout fp8 = RankLayout.of(argsWith(ckpt.args(), "fp8_param_gather", new Py.Bool(true)), shard, file);
            assertTrue(fp8.unproven().contains("FP8"), fp8.unproven());
            MasterCheck.RankCheck c = MasterCheck.run(shard, file, wrong);
            assertEquals(OptimFinding.Kind.UNPROVEN, c.findings().getFirst().kind());
            assertEquals(0, c.paramsChecked());
        }
    }

    @Test
    void aNonZeroGapBetweenParametersIsNamedAtItsFlatOffset() {
        JsonNode want = Fixtures.json(Fixtures.path("optim/gaps/GAPS.json")).get("gap_not_zero");
        OptimizerCheck.Report r = OptimizerCheck.run(Fixtures.path("optim/gaps/gap_not_zero/global_step_1"));
        assertEquals(1, r.findings().size(), r.findings().toString());
        OptimFinding f = r.findings().getFirst();
        assertEquals(OptimFinding.Kind.GAP_NOT_ZERO, f.kind());
        assertEquals(want.get("flat_offset").asLong(), f.flatOffset());
        assertTrue(f.message().startsWith(want.get("key").asText() + " holds 0.5 at flat offset "
                + want.get("flat_offset").asLong()), f.message());
        assertTrue(r.mastersMatch());
        assertEquals("masters match weights; 1 gap(s) between parameters not zero", r.summary());
    }

    @Test
    void tiedEmbeddingCopiesThatDifferAcrossStagesAreNamed() {
        JsonNode want = Fixtures.json(Fixtures.path("optim/tied_fault/TIED.json"));
        OptimizerCheck.Report r = OptimizerCheck.run(Fixtures.path("optim/tied_fault/global_step_3"));
        assertEquals(1, r.findings().size(), r.findings().toString());
        OptimFinding f = r.findings().getFirst();
        assertEquals(OptimFinding.Kind.TIED_COPIES_DIFFER, f.kind());
        assertEquals(want.get("folder").asText(), f.folder());
        assertEquals(want.get("param").asText(), f.param());
        assertEquals(want.get("element").asLong(), f.element());
        assertTrue(f.message().contains(want.get("first_stage_folder").asText() + "'s embedding.word_embeddings.weight"),
                f.message());
        assertTrue(r.mastersMatch(), "each stage matches its own masters");
        assertTrue(r.summary().endsWith("the pipeline stages' copies of the tied embeddings differ"), r.summary());
    }

    @Test
    void olderPerBucketFormIsReadBucketByBucket() {
        Path folder = Fixtures.path("optim/per_bucket/dense_dp2/global_step_3/actor/iter_0000003/mp_rank_00");
        try (OptimizerFile file = OptimizerFile.open(folder.resolve(OptimizerFile.NAME))) {
            BufferState b = file.optimizers().getFirst().getFirst();
            assertFalse(b.coalesced());
            assertEquals(18, b.perBucketUnpadded().size());
            assertEquals(18, b.tensors().get("param").size());
            assertEquals(181312, b.numelUnpadded());
            JsonNode last = Fixtures.json(folder.resolve("megatron_layout.json")).get(0).get("buckets").get(17);
            assertEquals(last.get("offset").asLong() + last.get("numel").asLong(), b.storedNumel(),
                    "padded buckets are stored whole");
        }
        try (MegatronCheckpoint ckpt = MegatronCheckpoint.open(folder.resolve(MegatronCheckpoint.FILE));
             OptimizerFile file = OptimizerFile.open(folder.resolve(OptimizerFile.NAME))) {
            // A layout that puts everything in one bucket is refused bucket by bucket.
            RankLayout one = RankLayout.of(argsWith(ckpt.args(), "overlap_grad_reduce", new Py.Bool(false)),
                    ckpt.shards().getFirst(), file);
            assertTrue(one.unproven().contains("per_bucket_numel_unpadded is [16384, 8256"), one.unproven());
        }
    }

    @Test
    void chainedMoeFileHasDenseStateOnlyOnDenseDpRankZero() {
        Path iter = Fixtures.path("optim/moe_ep2/global_step_3/actor/iter_0000003");
        try (OptimizerFile a = OptimizerFile.open(iter.resolve("mp_rank_00_000/" + OptimizerFile.NAME));
             OptimizerFile b = OptimizerFile.open(iter.resolve("mp_rank_00_001/" + OptimizerFile.NAME))) {
            assertTrue(a.chained());
            assertEquals(2, a.optimizers().size());
            assertEquals(1, a.optimizers().get(0).size());
            assertEquals("bfloat16", a.optimizers().get(0).getFirst().paramDtype());
            assertEquals("float32", a.optimizers().get(0).getFirst().gradDtype());
            assertTrue(a.optimizers().get(0).getFirst().coalesced());
            assertNull(b.optimizers().get(0));
            assertEquals(98304, b.optimizers().get(1).getFirst().numelUnpadded());
        }
        // mp_rank_00_001's dense weights are checked against the dense masters mp_rank_00_000 wrote.
        OptimizerCheck.Report r = OptimizerCheck.run(iter);
        assertEquals(List.of("mp_rank_00_000", "mp_rank_00_001"), r.ranks().stream().map(MasterCheck.RankCheck::folder).toList());
        assertEquals(27 + 16, r.ranks().get(0).paramsChecked());
        assertEquals(27 + 16, r.ranks().get(1).paramsChecked());
    }
}
