package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Qwen3-MoE torch_dist checkpoint saved by Megatron-Core with expert parallelism (EP=2, 8 experts,
 * SequentialMLP): routed experts sit on their own axis of one global key, {@code mlp.experts.experts.}.
 */
class TorchDistMoeCliTest {
    static final Path ROOT = Cli.fixtures().resolve("torchdist_qwen3_moe_ep2");
    static final Path ACTOR = ROOT.resolve("global_step_10/actor");
    static final Path ITER = ACTOR.resolve("iter_0000010");
    static final Path HF = ACTOR.resolve("hf_model");
    /** The same weights saved with TP=2 x EP=2 (expert TP=2): each expert's fc1 halves cut per TP rank. */
    static final Path TP2 = Cli.fixtures().resolve("torchdist_qwen3_moe_tp2_ep2/global_step_10/actor");

    @Test
    void stepFolderReportsEveryExpertIdentical() {
        Cli r = Cli.run(ROOT.resolve("global_step_10").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("69 tensors: 69 identical"), r.out());
        assertTrue(r.out().contains("model.layers.1  33       9 identical; 8 experts: 8 identical"), r.out());
        assertEquals(0, Cli.run(ITER.toString(), ITER.toString()).exit());
    }

    @Test
    void aChangedElementNamesTheExpertTheDistcpFileAndTheChunk() {
        JsonNode f = Cli.read(ROOT.resolve("faults/element/FAULT.json"));
        Cli r = Cli.run(HF.toString(), ROOT.resolve("faults/element/iter_0000010").toString());
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("68 identical, 1 different"), r.out());
        assertTrue(r.out().contains(f.get("hf").asText() + "  different  1 of 2048 elements differ"), r.out());
        JsonNode o = f.get("chunk_offsets");
        assertTrue(r.out().contains(f.get("file").asText() + "@" + f.get("file_offset").asLong() + " " + f.get("key").asText()
                + "[" + o.get(0) + ", " + o.get(1) + ", 0:64, 0:32]"), r.out());
        JsonNode at = f.get("hf_index");
        assertTrue(r.out().contains("B[" + at.get(0) + ", " + at.get(1) + "] = "), r.out());
        assertTrue(r.out().contains("8 experts: 7 identical, 1 different: 6"), r.out());
    }

    @Test
    void convertToHfIsBitwiseEqualToTheHfCopy(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("hf");
        Cli r = Cli.run("convert", "to-hf", ITER.toString(), "--out", out.toString(), "--config-from", HF.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertEquals(-1, Files.mismatch(out.resolve("model.safetensors"), HF.resolve("model.safetensors")));
    }

    @Test
    void reshardIntoLegacyExpertShardsThenDiffAgainstHf(@TempDir Path tmp) {
        Path out = tmp.resolve("meg");
        Cli r = Cli.run("convert", "reshard", ITER.toString(), "--out", out.toString(), "--tp", "2", "--pp", "1",
                "--ep", "2");
        assertEquals(0, r.exit(), r.out() + r.err());
        Cli d = Cli.run(out.toString(), HF.toString());
        assertEquals(0, d.exit(), d.out());
        assertTrue(d.out().contains("69 identical"), d.out());
    }

    @Test
    void checkShapeChecksExpertsAndFailsWrongArgs() {
        Cli ok = Cli.run("check", ROOT.resolve("global_step_10").toString());
        assertEquals(0, ok.exit(), ok.out() + ok.err());
        assertTrue(ok.out().contains("OK: 0 error(s), 0 warning(s)"), ok.out());
        Cli bad = Cli.run("check", ROOT.resolve("faults/wrong_args/global_step_10").toString());
        assertEquals(1, bad.exit(), bad.out() + bad.err());
        assertTrue(bad.out().contains("error: decoder.layers.mlp.experts.experts.linear_fc1.weight: holds 8 experts,"
                + " but args.num_experts is 16"), bad.out());
        assertTrue(bad.out().contains("error: decoder.layers.mlp.experts.experts.linear_fc2.weight: global shape [2, 8, 64, 32],"
                + " but args (hidden 64, heads 4/2 groups, kv_channels 16, ffn 96, padded vocab 256, moe_ffn_hidden_size 48)"
                + " imply [2, 8, 64, 48]"), bad.out());
        assertTrue(bad.out().contains("error: decoder.layers.mlp.router.weight: global shape [2, 8, 64], but args"), bad.out());
    }

    @Test
    void tensorParallelExpertsReportIdenticalAndConvertBitwise(@TempDir Path tmp) throws IOException {
        Cli step = Cli.run(TP2.getParent().toString());
        assertEquals(0, step.exit(), step.out() + step.err());
        assertTrue(step.out().contains("69 tensors: 69 identical"), step.out());
        Cli across = Cli.run(ITER.toString(), TP2.resolve("iter_0000010").toString());
        assertEquals(0, across.exit(), across.out());
        Cli chunks = Cli.run("inspect", TP2.resolve("iter_0000010").toString(), "--chunks");
        assertTrue(chunks.out().contains("decoder.layers.mlp.experts.experts.linear_fc1.weight[0, 6, 48:64, 0:64]"),
                chunks.out());
        Path out = tmp.resolve("hf");
        Cli r = Cli.run("convert", "to-hf", TP2.resolve("iter_0000010").toString(), "--out", out.toString(),
                "--config-from", TP2.resolve("hf_model").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertEquals(-1, Files.mismatch(out.resolve("model.safetensors"), TP2.resolve("hf_model/model.safetensors")));
    }

    @Test
    void denseAndMoeLayersAreKeyedPerLayerAndReportIdentical(@TempDir Path tmp) throws IOException {
        Path actor = Cli.fixtures().resolve("torchdist_qwen3_moe_mixed_ep2/global_step_10/actor");
        Cli inspect = Cli.run("inspect", actor.resolve("iter_0000010").toString());
        assertTrue(inspect.out().matches(
                "(?s).*decoder.layers.2.mlp.experts.experts.linear_fc1.weight\\s+BF16\\s+\\[8, 64, 64\\].*"), inspect.out());
        assertTrue(inspect.out().matches("(?s).*decoder.layers.1.mlp.linear_fc1.weight\\s+BF16\\s+\\[192, 64\\].*"),
                inspect.out());
        Cli r = Cli.run(actor.getParent().toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("80 tensors: 80 identical"), r.out());
        assertTrue(r.out().contains("model.layers.1  11       11 identical"), r.out());
        assertTrue(r.out().contains("model.layers.2  33       9 identical; 8 experts: 8 identical"), r.out());
        assertEquals(0, Cli.run("check", actor.getParent().toString()).exit());
        Path out = tmp.resolve("hf");
        Cli c = Cli.run("convert", "to-hf", actor.resolve("iter_0000010").toString(), "--out", out.toString(),
                "--config-from", actor.resolve("hf_model").toString());
        assertEquals(0, c.exit(), c.out() + c.err());
        assertEquals(-1, Files.mismatch(out.resolve("model.safetensors"), actor.resolve("hf_model/model.safetensors")));
    }

    @Test
    void inspectListsTheExpertAxis() {
        Cli r = Cli.run("inspect", ITER.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().matches(
                "(?s).*decoder.layers.mlp.experts.experts.linear_fc2.weight\\s+BF16\\s+\\[2, 8, 64, 32\\].*16 chunks.*"),
                r.out());
    }
}
