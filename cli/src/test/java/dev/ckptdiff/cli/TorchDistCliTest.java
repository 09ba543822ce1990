package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** torch_dist checkpoints (written by Megatron-Core's dist_checkpointing.save) through the command line. */
class TorchDistCliTest {
    static final Path ROOT = Cli.fixtures().resolve("torchdist_qwen2_tp2_pp2");
    static final Path ACTOR = ROOT.resolve("global_step_10/actor");
    static final Path ITER = ACTOR.resolve("iter_0000010");

    @Test
    void stepFolderReportsIdentical() {
        Cli r = Cli.run(ROOT.resolve("global_step_10").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("51 tensors: 51 identical"), r.out());
        assertTrue(r.out().contains("torch_dist iter_0000010"), r.out());
    }

    @Test
    void torchDistAgainstLegacyAndAgainstItselfReportIdentical() {
        assertEquals(0, Cli.run(ROOT.resolve("legacy").toString(), ITER.toString()).exit());
        assertEquals(0, Cli.run(ITER.toString(), ITER.toString()).exit());
    }

    @Test
    void aChangedElementNamesTheDistcpFileTheChunkAndTheElement() {
        JsonNode f = Cli.read(ROOT.resolve("faults/element/FAULT.json"));
        Cli r = Cli.run(ACTOR.resolve("hf_model").toString(), ROOT.resolve("faults/element/iter_0000010").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("model.layers.2.self_attn.q_proj.weight  different"), r.out());
        assertTrue(r.out().contains(f.get("file").asText() + "@" + f.get("file_offset").asLong() + " "
                + f.get("key").asText() + "[2, 64:128, 0:64] [q]"), r.out());
        assertTrue(r.out().contains("B[5, 7] = "), r.out());
    }

    @ParameterizedTest
    @CsvSource({"truncated, __3_0.distcp, truncated", "missing_chunk, .metadata, is in no chunk",
            "foreign_class, .metadata, collections.Counter", "no_metadata_json, iter_0000010, save did not finish",
            "zarr_backend, metadata.json, zarr checkpoints are not read", "missing_file, __3_0.distcp, is missing"})
    void brokenCheckpointsAreOneLineErrorsWithExitTwo(String fault, String file, String says) {
        Path it = ROOT.resolve("faults").resolve(fault).resolve("iter_0000010");
        for (Cli r : new Cli[]{Cli.run("inspect", it.toString()),
                Cli.run(it.toString(), ACTOR.resolve("hf_model").toString())}) {
            assertEquals(2, r.exit(), r.out() + r.err());
            String err = r.err().lines().filter(l -> !l.startsWith("WARNING")).reduce("", (a, b) -> a + b + "\n").strip();
            assertFalse(err.contains("\n"), err);
            assertTrue(err.startsWith("ckpt-diff: ") && err.contains(file) && err.contains(says), err);
            assertFalse(err.contains("Exception"), err);
        }
    }

    @Test
    void inspectShowsBackendIterationArgsAndChunks() {
        Cli r = Cli.run("inspect", ITER.toString(), "--chunks");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("Megatron torch_dist checkpoint"), r.out());
        assertTrue(r.out().matches("(?s).*backend\\s+torch_dist version 1.*"), r.out());
        assertTrue(r.out().matches("(?s).*args.tensor_model_parallel_size\\s+2.*"), r.out());
        assertTrue(r.out().matches("(?s).*decoder.layers.mlp.linear_fc1.weight\\s+BF16\\s+\\[4, 192, 64\\].*16 chunks.*"),
                r.out());
        assertTrue(r.out().contains("decoder.layers.mlp.linear_fc1.weight[0, 96:144, 0:64]"), r.out());
        JsonNode j = Cli.run("inspect", ITER.toString(), "--json").json();
        JsonNode copy = j.get("copies").get(0);
        assertEquals("torch_dist", copy.get("kind").asText());
        assertEquals("10", copy.get("facts").get("iteration").asText());
        assertEquals("61", copy.get("facts").get("chunks").asText());
        assertEquals(10, copy.get("tensors").size());
    }

    @Test
    void convertToHfIsBitwiseEqualToTheHfCopy(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("hf");
        Cli r = Cli.run("convert", "to-hf", ITER.toString(), "--out", out.toString(), "--config-from",
                ACTOR.resolve("hf_model").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertEquals(-1, Files.mismatch(out.resolve("model.safetensors"), ACTOR.resolve("hf_model/model.safetensors")));
    }

    @Test
    void reshardIntoLegacyShardsThenDiffAgainstHf(@TempDir Path tmp) {
        Path out = tmp.resolve("meg");
        Cli r = Cli.run("convert", "reshard", ITER.toString(), "--out", out.toString(), "--tp", "2", "--pp", "1");
        assertEquals(0, r.exit(), r.out() + r.err());
        Cli d = Cli.run(out.toString(), ACTOR.resolve("hf_model").toString());
        assertEquals(0, d.exit(), d.out());
        assertTrue(d.out().contains("51 identical"), d.out());
    }

    @Test
    void checkAcceptsTheStepAndFailsWrongArgs() {
        Cli ok = Cli.run("check", ROOT.resolve("global_step_10").toString());
        assertEquals(0, ok.exit(), ok.out() + ok.err());
        assertTrue(ok.out().contains("Megatron torch_dist checkpoint"), ok.out());
        Cli bad = Cli.run("check", ROOT.resolve("faults/wrong_args/global_step_10").toString());
        assertEquals(1, bad.exit(), bad.out() + bad.err());
        assertTrue(bad.out().contains("error: args.ffn_hidden_size: 128, but config.json's intermediate_size is 96"),
                bad.out());
    }
}
