package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** ckpt-diff --optimizer, check --optimizer and inspect on the real Megatron-Core optimizer fixtures. */
class OptimizerCliTest {
    static Path optim() {
        return Cli.fixtures().resolve("optim");
    }

    static JsonNode faults() {
        return Cli.read(optim().resolve("faults/FAULTS.json"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"dense_dp2/global_step_3", "dense_dp2/global_step_2", "dense_tp2/global_step_3",
            "dense_pp2_tied/global_step_3", "moe_ep2/global_step_3", "per_bucket/dense_dp2/global_step_3",
            "per_bucket/moe_ep2/global_step_3", "gaps/clean/global_step_1"})
    void cleanStepsSayMastersMatchWeights(String step) {
        for (String cmd : List.of("diff", "check")) {
            Cli r = cmd.equals("diff") ? Cli.run("--optimizer", optim().resolve(step).toString())
                    : Cli.run("check", "--optimizer", optim().resolve(step).toString());
            assertEquals(0, r.exit(), r.out() + r.err());
            assertTrue(r.out().strip().endsWith("masters match weights"), r.out());
            assertFalse(r.out().contains("not proven"), r.out());
            assertEquals("", r.err());
        }
    }

    static Cli fault(String name) {
        return Cli.run("--optimizer", optim().resolve("faults").resolve(name).resolve("global_step_3").toString());
    }

    @Test
    void oneUlpOffIsNamedAtParameterFolderAndElement() {
        JsonNode f = faults().get("ulp_off");
        Cli r = fault("ulp_off");
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("master mismatch: " + f.get("folder").asText() + " " + f.get("param").asText()
                + " element " + f.get("element").asLong() + " (flat offset " + f.get("flat_offset").asLong() + ")"), r.out());
        assertTrue(r.out().contains("will resume onto other weights"), r.out());
    }

    @Test
    void nanInExpAvgSqIsNamedAtParameterFolderAndElement() {
        JsonNode f = faults().get("nan_exp_avg_sq");
        Cli r = fault("nan_exp_avg_sq");
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("bad moment: " + f.get("folder").asText() + " " + f.get("param").asText()
                + " element " + f.get("element").asLong() + " (flat offset " + f.get("flat_offset").asLong()
                + "): exp_avg_sq is NaN"), r.out());
    }

    @Test
    void staleLayerNamesEachOfItsParameters() {
        JsonNode f = faults().get("stale_layer");
        Cli r = fault("stale_layer");
        assertEquals(1, r.exit(), r.out() + r.err());
        long lines = r.out().lines().filter(l -> l.startsWith("  master mismatch:")).count();
        assertEquals(f.get("params").size(), lines, r.out());
        for (JsonNode p : f.get("params")) {
            assertTrue(r.out().contains("master mismatch: " + f.get("folder").asText() + " " + p.asText() + " element "), p.asText());
        }
    }

    @Test
    void optimizerOfAnotherStepIsCaught() {
        Cli r = fault("other_step");
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().strip().endsWith("masters do NOT match weights: the step will resume onto other weights"), r.out());
    }

    @Test
    void inspectShowsBuffersPlacementsAndProofOfEveryFixtureFolder() throws Exception {
        List<Path> folders;
        try (var s = Files.walk(optim())) {
            folders = s.filter(p -> p.getFileName().toString().equals("distrib_optim.pt")).map(Path::getParent)
                    .filter(p -> !p.toString().contains("short_bucket")).sorted().toList();
        }
        assertEquals(19, folders.size());
        for (Path folder : folders) {
            Cli r = Cli.run("inspect", "--json", folder.toString());
            assertEquals(0, r.exit(), r.out() + r.err());
            JsonNode j = r.json();
            assertTrue(j.get("layout_proven").asBoolean(), folder + ": " + j);
            JsonNode layout = Cli.read(folder.resolve("megatron_layout.json"));
            int params = 0;
            for (JsonNode b : layout) {
                params += b.get("params").size();
            }
            assertEquals(params, j.get("params").size(), folder.toString());
            // Every written parameter's offset is Megatron's (coalesced form): start - bucket offset + earlier buckets' unpadded sizes.
            for (JsonNode p : j.get("params")) {
                if (p.get("flat_offset").asLong() < 0) {
                    continue;
                }
                JsonNode buf = layout.get(bufferIndex(j, p));
                assertEquals(megatronOffset(buf, p.get("name").asText(), folder.toString().contains("per_bucket")), p.get("flat_offset").asLong(), p.toString());
            }
        }
        Cli text = Cli.run("inspect", optim().resolve("moe_ep2/global_step_3/actor/iter_0000003/mp_rank_00_001/distrib_optim.pt").toString());
        assertEquals(0, text.exit(), text.err());
        assertTrue(text.out().contains("list (chained optimizer: dense, then expert)"), text.out());
        assertTrue(text.out().contains("not written (not DP rank 0 of this optimizer)"), text.out());
        assertTrue(text.out().contains("layout: proven"), text.out());
        assertTrue(text.out().contains("decoder.layers.3.mlp.experts.local_experts.1.linear_fc2.weight"), text.out());
    }

    /** The index into megatron_layout.json (dense buffers, then expert ones) of a row's buffer. */
    private static int bufferIndex(JsonNode j, JsonNode p) {
        int idx = 0;
        for (int o = 0; o < p.get("optimizer").asInt(); o++) {
            for (JsonNode x : j.get("params")) {
                if (x.get("optimizer").asInt() == o) {
                    idx = Math.max(idx, x.get("buffer").asInt() + 1);
                }
            }
        }
        return idx + p.get("buffer").asInt();
    }

    /** Per-bucket form (older Megatron-Core): the offset inside the parameter's bucket tensor. */
    private static long megatronOffset(JsonNode buf, String name, boolean perBucket) {
        for (JsonNode p : buf.get("params")) {
            if (p.get("name").asText().equals(name)) {
                int b = p.get("bucket").asInt();
                long before = 0;
                for (int k = 0; k < (perBucket ? 0 : b); k++) {
                    before += buf.get("buckets").get(k).get("numel_unpadded").asLong();
                }
                return p.get("start").asLong() - buf.get("buckets").get(b).get("offset").asLong() + before;
            }
        }
        throw new AssertionError(name + " not in Megatron's layout");
    }

    @Test
    void aRunRootChecksEveryStepNewestFirst() {
        Cli all = Cli.run("--optimizer", optim().resolve("dense_dp2").toString());
        assertEquals(0, all.exit(), all.out() + all.err());
        List<String> heads = all.out().lines().filter(l -> l.startsWith("optimizer state: ")).toList();
        assertEquals(2, heads.size(), all.out());
        assertTrue(heads.get(0).contains("global_step_3") && heads.get(1).contains("global_step_2"), all.out());
        assertEquals(2, all.out().lines().filter(l -> l.equals("masters match weights")).count(), all.out());
        Cli latest = Cli.run("--optimizer", "--latest", optim().resolve("dense_dp2").toString());
        assertEquals(1, latest.out().lines().filter(l -> l.startsWith("optimizer state: ")).count(), latest.out());
        assertEquals(1, Cli.run("--optimizer", optim().resolve("faults/ulp_off").toString()).exit());
    }

    @Test
    void checkJsonNamesTheFaultForMachines() {
        JsonNode f = faults().get("ulp_off");
        Cli r = Cli.run("check", "--optimizer", "--json", optim().resolve("faults/ulp_off/global_step_3").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        JsonNode j = r.json();
        assertFalse(j.get("masters_match").asBoolean());
        JsonNode x = j.get("findings").get(0);
        assertEquals("master_mismatch", x.get("kind").asText());
        assertEquals(f.get("param").asText(), x.get("param").asText());
        assertEquals(f.get("element").asLong(), x.get("element").asLong());
        assertEquals(f.get("flat_offset").asLong(), x.get("flat_offset").asLong());
        assertEquals(1, j.get("findings").size());
    }

    @Test
    void aStepWithoutDistribOptimIsAFinding(@TempDir Path tmp) throws Exception {
        Path src = optim().resolve("dense_dp2/global_step_3/actor/iter_0000003/mp_rank_00");
        Path dst = tmp.resolve("iter_0000003/mp_rank_00");
        Files.createDirectories(dst);
        Files.copy(src.resolve("model_optim_rng.pt"), dst.resolve("model_optim_rng.pt"));
        Cli r = Cli.run("check", "--optimizer", tmp.resolve("iter_0000003").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("mp_rank_00: no distrib_optim.pt beside model_optim_rng.pt"), r.out());
        assertTrue(r.out().strip().endsWith("masters could not be checked against the weights"), r.out());
    }

    @Test
    void inspectWithoutTheModelFileShowsTheBuffersAndSaysWhyNoPlacement(@TempDir Path tmp) throws Exception {
        Files.copy(optim().resolve("dense_dp2/global_step_3/actor/iter_0000003/mp_rank_00/distrib_optim.pt"),
                tmp.resolve("distrib_optim.pt"));
        Cli r = Cli.run("inspect", tmp.resolve("distrib_optim.pt").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("(bfloat16, float32)   coalesced  181312"), r.out());
        assertTrue(r.out().contains("layout: not proven: no model_optim_rng.pt beside it"), r.out());
    }

    @Test
    void aBucketTensorShorterThanItsBucketIsOneLineExit2() {
        for (String cmd : List.of("--optimizer", "inspect")) {
            Path step = optim().resolve("per_bucket/short_bucket/global_step_3");
            Cli r = cmd.equals("inspect") ? Cli.run("inspect", step.resolve("actor/iter_0000003/mp_rank_00").toString())
                    : Cli.run("--optimizer", step.toString());
            assertEquals(2, r.exit(), r.out() + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().startsWith("ckpt-diff: ") && r.err().contains("distrib_optim.pt")
                    && r.err().contains("['param'][3] holds 100 elements, fewer than its bucket's"), r.err());
        }
    }

    @Test
    void aTruncatedOptimizerFileIsOneLineExit2(@TempDir Path tmp) throws Exception {
        Path src = optim().resolve("dense_dp2/global_step_3/actor/iter_0000003/mp_rank_00");
        Path dst = tmp.resolve("global_step_3/actor/iter_0000003/mp_rank_00");
        Files.createDirectories(dst);
        Files.copy(src.resolve("model_optim_rng.pt"), dst.resolve("model_optim_rng.pt"));
        byte[] opt = Files.readAllBytes(src.resolve("distrib_optim.pt"));
        Files.write(dst.resolve("distrib_optim.pt"), java.util.Arrays.copyOf(opt, opt.length / 2));
        Files.writeString(tmp.resolve("global_step_3/actor/latest_checkpointed_iteration.txt"), "3");
        Cli r = Cli.run("--optimizer", tmp.resolve("global_step_3").toString());
        assertEquals(2, r.exit(), r.out() + r.err());
        assertTrue(r.err().startsWith("ckpt-diff: ") && r.err().strip().lines().count() == 1, r.err());
        assertTrue(r.err().contains("distrib_optim.pt"), r.err());
    }
}
