package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Legacy MoE checkpoints with expert TP smaller than TP, as real Megatron-Core saves them
 * (testdata/make_legacy_moe_etp.py): only some of the TP x EP folders exist.
 */
class MoeEtpCliTest {
    private static Path step(String name) {
        return Cli.fixtures().resolve("moe/" + name + "/global_step_10");
    }

    private static List<String> folders(Path iter) throws Exception {
        try (Stream<Path> s = Files.list(iter)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("mp_rank_")).sorted().toList();
        }
    }

    @ParameterizedTest
    @CsvSource({"qwen3_moe_tp2_etp1_ep2, 2, 11", "qwen3_moe_tp2_etp1_ep4, 4, 43"})
    void cleanPartialGridStepsAreSame(String name, int ep, int checks) {
        Cli r = Cli.run("--no-progress", step(name).toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("TP=2 PP=1 EP=" + ep + ", " + ep + " shards, 8 experts over EP=" + ep
                + ", ETP=1 (sequential)"), r.out());
        assertTrue(r.out().contains("qwen3_moe, 69 tensors: 69 identical"), r.out());
        assertTrue(r.out().contains("8 experts: 8 identical"), r.out());
        // EP=4 writes each dense TP shard twice, and each EP rank's experts once: those copies are checked too
        assertTrue(r.out().contains("Consistency checks: " + checks + " "), r.out());
    }

    @Test
    void anExpertElementInTheSecondFolderNamesFolderKeyAndElement() {
        Cli r = Cli.run("--no-progress", step("faults/etp1_expert_element").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("model.layers.1.mlp.experts.5.down_proj.weight  different"), r.out());
        assertTrue(r.out().contains("B mp_rank_01_001 decoder.layers.1.mlp.experts.local_experts.1.linear_fc2.weight"), r.out());
        assertTrue(r.out().contains("worst element [5, 7]"), r.out());
        assertTrue(r.out().contains("8 experts: 7 identical, 1 different: 5"), r.out());
    }

    @Test
    void aDenseShardDifferingBetweenTwoFoldersOfOneTpRankIsAReplicaFinding() {
        Cli r = Cli.run("--no-progress", step("faults/etp1_dense_replica").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("1 failed"), r.out());
        assertTrue(r.out().contains("A mp_rank_00_000 decoder.layers.0.self_attention.linear_proj.weight"
                + " / B mp_rank_00_002 decoder.layers.0.self_attention.linear_proj.weight"), r.out());
        // the element as planted in the TP shard [64, 32] of TP rank 0, which is also its place in the HF [64, 64]
        assertTrue(r.out().contains("worst element [3, 4]: A[3, 4] = "), r.out());
        assertTrue(r.out().contains("the same weights in mp_rank_00_002, mp_rank_01_003 must equal mp_rank_00_000,"
                + " mp_rank_01_001"), r.out());
    }

    @ParameterizedTest
    @CsvSource({"qwen3_moe_tp2_etp1_ep2, mp_rank_01_001, 1 of 2", "qwen3_moe_tp2_etp1_ep4, mp_rank_00_002, 3 of 4"})
    void aMissingWrittenFolderIsOneLineNamingIt(String name, String removed, String holds, @TempDir Path tmp)
            throws Exception {
        Path copy = tmp.resolve("step");
        Cli.copyTree(step(name), copy);
        Path iter = copy.resolve("actor/iter_0000010");
        Files.delete(iter.resolve(removed).resolve("model_optim_rng.pt"));
        Files.delete(iter.resolve(removed));
        for (String command : new String[]{"diff", "check"}) {
            Cli r = command.equals("diff") ? Cli.run("--no-progress", copy.toString()) : Cli.run("check", copy.toString());
            assertEquals(2, r.exit(), r.out() + r.err());
            String err = r.err().strip();
            assertEquals(1, err.lines().count(), err);
            assertTrue(err.startsWith("ckpt-diff: ") && err.contains("missing shard folder " + removed + " for the layout"
                    + " in args") && err.contains("ETP=1") && err.endsWith("the folder holds " + holds), err);
        }
    }

    @Test
    void theFullGridIsStillAcceptedAndItsExtraFoldersAreReplicas() {
        // all four TP x EP folders, as tools assuming the grid write them: experts whole (ETP=1) in both TP folders
        Cli r = Cli.run("--no-progress", step("qwen3_moe_tp2_etp1_ep2_full_grid").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("TP=2 PP=1 EP=2, 4 shards, 8 experts over EP=2, ETP=1 (sequential)"), r.out());
        assertTrue(r.out().contains("qwen3_moe, 69 tensors: 69 identical"), r.out());
        // 11 replicated keys (norms, routers) in 3 further folders; 10 TP-split dense HF tensors (embedding, q/k/v and o
        // of 2 layers, lm_head) in EP rank 1's copy; 48 expert HF tensors (gate, up, down x 8 x 2 layers) in their 2nd folder
        assertTrue(r.out().contains("Consistency checks: 91 "), r.out());
        Cli fault = Cli.run("--no-progress", step("faults/etp1_full_grid_expert_replica").toString());
        assertEquals(1, fault.exit(), fault.out() + fault.err());
        assertTrue(fault.out().contains("1 failed"), fault.out());
        assertTrue(fault.out().contains("A mp_rank_00_000 decoder.layers.0.mlp.experts.local_experts.2.linear_fc1.weight"
                + " [gate] / B mp_rank_01_000 decoder.layers.0.mlp.experts.local_experts.2.linear_fc1.weight [gate]"),
                fault.out());
        assertTrue(fault.out().contains("worst element [1, 2]"), fault.out());
        assertTrue(fault.out().contains("the same weights in mp_rank_01_000 must equal mp_rank_00_000"), fault.out());
    }

    @Test
    void aDenseKeyMissingFromOneOfTheFoldersOfItsTpRankIsOneLineNamingThatFolder() {
        Cli r = Cli.run("--no-progress", step("bad/etp1_ep4_key_missing").toString());
        assertEquals(2, r.exit(), r.out() + r.err());
        String err = r.err().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.startsWith("ckpt-diff: ") && err.endsWith("iter_0000010: decoder.layers.0.self_attention.linear_proj"
                + ".weight is missing from mp_rank_00_002, a shard of TP rank 0 (found on mp_rank_00_000, mp_rank_01_001,"
                + " mp_rank_01_003)"), err);
    }

    @Test
    void argsWithEtpAboveTpAreOneLineOfBadInput() {
        for (String command : new String[]{"diff", "check"}) {
            Cli r = command.equals("diff") ? Cli.run("--no-progress", step("bad/args_etp_above_tp").toString())
                    : Cli.run("check", step("bad/args_etp_above_tp").toString());
            assertEquals(2, r.exit(), r.out() + r.err());
            String err = r.err().strip();
            assertEquals(1, err.lines().count(), err);
            assertTrue(err.startsWith("ckpt-diff: ") && err.endsWith("iter_0000010: args: expert tensor parallel size 4"
                    + " with TP 2: legacy mp_rank_* folders are named by the dense TP rank only, so ETP must divide TP"
                    + " (Megatron cannot save ETP > TP as legacy folders)"), err);
        }
    }

    @Test
    void checkListsTheFoldersMegatronWrites() {
        Cli r = Cli.run("check", step("qwen3_moe_tp2_etp1_ep2").resolve("actor/hf_model").toString(),
                "--tp", "2", "--ep", "2", "--etp", "1");
        assertTrue(r.out().lines().anyMatch(l -> l.matches("  legacy folders +mp_rank_00_000, mp_rank_01_001 \\(2 of the 4"
                + " TP × EP combinations.*")), r.out());
        Cli full = Cli.run("check", step("qwen3_moe_tp2_etp1_ep2").resolve("actor/hf_model").toString(),
                "--tp", "2", "--ep", "2");
        assertTrue(full.out().lines().anyMatch(l -> l.matches("  legacy folders +mp_rank_00_000, mp_rank_00_001,"
                + " mp_rank_01_000, mp_rank_01_001")), full.out());
    }

    @Test
    void toMegatronWithEtpOneWritesMegatronsFoldersAndRoundTrips(@TempDir Path tmp) throws Exception {
        Path python = ConvertCliTest.pythonOrSkip();
        Path actor = step("qwen3_moe_tp2_etp1_ep2").resolve("actor");
        Path hf = actor.resolve("hf_model");
        Cli to = Cli.run("convert", "to-megatron", hf.toString(), "--out", tmp.resolve("mg").toString(), "--tp", "2",
                "--ep", "2", "--etp", "1", "--spec", "local");
        assertEquals(0, to.exit(), to.out() + to.err());
        assertTrue(to.out().contains("69 identical, 0 within tolerance, 0 finding(s)"), to.out());
        assertEquals(List.of("mp_rank_00_000", "mp_rank_01_001"), folders(tmp.resolve("mg/iter_0000000")));
        Cli back = Cli.run("convert", "to-hf", tmp.resolve("mg").toString(), "--out", tmp.resolve("hf").toString());
        assertEquals(0, back.exit(), back.out() + back.err());
        Cli same = Cli.run("--no-progress", hf.toString(), tmp.resolve("hf").toString());
        assertEquals(0, same.exit(), same.out() + same.err());
        assertTrue(same.out().contains("69 tensors: 69 identical"), same.out());
        // real torch.load(weights_only=True); the same keys and values as real Megatron-Core's folders; HF logits
        Path testdata = Cli.fixtures().getParent();
        ProcessBuilder pb = new ProcessBuilder(List.of(python.toString(), testdata.resolve("verify_moe.py").toString(),
                actor.resolve("iter_0000010").toString(), tmp.resolve("mg/iter_0000000").toString(), hf.toString(),
                tmp.resolve("hf").toString())).redirectErrorStream(true);
        pb.environment().put("PYTHONPATH", testdata.resolve("pysrc").toString());
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), output);
        assertTrue(output.contains("torch.load: 2 shard files") && output.contains("logits equal"), output);
    }

    @Test
    void reshardToEtpOneWritesMegatronsFolders(@TempDir Path tmp) throws Exception {
        Cli r = Cli.run("convert", "reshard", step("qwen3_moe_tp2_etp1_ep4").resolve("actor").toString(), "--out",
                tmp.resolve("out").toString(), "--tp", "2", "--pp", "1", "--ep", "4", "--etp", "1");
        assertEquals(0, r.exit(), r.out() + r.err());
        assertEquals(List.of("mp_rank_00_000", "mp_rank_00_002", "mp_rank_01_001", "mp_rank_01_003"),
                folders(tmp.resolve("out/iter_0000000")));
        Cli same = Cli.run("--no-progress", step("qwen3_moe_tp2_etp1_ep4").resolve("actor/iter_0000010").toString(),
                tmp.resolve("out").toString());
        assertEquals(0, same.exit(), same.out() + same.err());
    }
}
