package dev.ckptdiff.torchdist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.check.CheckRunner;
import dev.ckptdiff.check.Finding;
import dev.ckptdiff.check.Section;
import dev.ckptdiff.check.Severity;
import dev.ckptdiff.convert.Convert;
import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffJob;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.Piece;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.diff.Verdict;
import dev.ckptdiff.diff.VectorEngine;
import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.tensor.Shapes;

/** The torch_dist reader on checkpoints written by Megatron-Core's own dist_checkpointing.save (make_torchdist.py). */
class TorchDistCheckpointTest {
    static final Path ROOT = Fixtures.path("torchdist_qwen2_tp2_pp2");
    static final Path ACTOR = ROOT.resolve("global_step_10/actor");
    static final Path ITER = ACTOR.resolve("iter_0000010");
    static final Path HF = ACTOR.resolve("hf_model");

    static Differ differ() {
        return new Differ(new VectorEngine(), new Differ.Options(Tolerance.DEFAULT, false, 2), b -> { });
    }

    static Comparison diff(Path... paths) {
        List<DiffJob.Pair> pairs = DiffJob.pairs(List.of(paths));
        assertEquals(1, pairs.size());
        return DiffJob.compare(pairs.getFirst(), differ(), b -> { });
    }

    static int hfTensorCount() {
        try (HfCheckpoint hf = HfCheckpoint.open(HF)) {
            return hf.tensors().size();
        }
    }

    @Test
    void readsTheIndexTheCommonStateAndEveryChunk() {
        try (TorchDistCheckpoint d = TorchDistCheckpoint.open(ITER)) {
            assertEquals("torch_dist", d.backend());
            assertEquals(1, d.backendVersion());
            assertEquals("1.0.0", d.index().version());
            assertTrue(d.index().extras().contains("all_local_plans"), d.index().extras().toString());
            assertEquals(10L, d.savedIteration().orElseThrow());
            assertTrue(d.commonSource().orElseThrow().startsWith("common_state/"), d.commonSource().toString());
            assertEquals(2, d.args().getLong("tensor_model_parallel_size", -1));
            assertEquals(4, d.numLayers());
            assertEquals(List.of("__0_0.distcp", "__1_0.distcp", "__2_0.distcp", "__3_0.distcp"),
                    d.files().stream().sorted().toList());
            // TP=2: gated fc1 is two chunks per TP rank and layer ([gate; up] globally), QKV one.
            assertEquals(4 * 2 * 2, d.chunks().get("decoder.layers.mlp.linear_fc1.weight").size());
            assertEquals(4 * 2, d.chunks().get("decoder.layers.self_attention.linear_qkv.weight").size());
            assertTrue(d.extraStates() > 0);
            for (Map.Entry<String, List<TorchDistCheckpoint.Chunk>> e : d.chunks().entrySet()) {
                long covered = e.getValue().stream().mapToLong(c -> c.tensor().numel()).sum();
                assertEquals(Shapes.numel(e.getValue().getFirst().of().shape()), covered, e.getKey());
            }
        }
    }

    /** Every per-layer tensor equals, byte for byte, what Megatron-Core loaded back unsharded (TP1 x PP1). */
    @Test
    void perLayerTensorsEqualMegatronsOwnUnshardedReload() throws Exception {
        JsonNode manifest = Fixtures.json(ROOT.resolve("weights.manifest.json"));
        Map<String, String> ours = new TreeMap<>();
        try (TorchDistCheckpoint d = TorchDistCheckpoint.open(ITER)) {
            for (Map.Entry<String, List<TorchDistCheckpoint.Chunk>> e : d.chunks().entrySet()) {
                for (TorchDistViews.LayerTensor t : TorchDistViews.split(e.getKey(), e.getValue(), "A")) {
                    String name = t.key().replace("self_attention.linear_qkv.layer_norm_weight", "input_layernorm.weight")
                            .replace("mlp.linear_fc1.layer_norm_weight", "pre_mlp_layernorm.weight");
                    ours.put(name, sha256(t));
                }
            }
        }
        assertEquals(manifest.size(), ours.size(), ours.keySet().toString());
        for (Map.Entry<String, JsonNode> e : manifest.properties()) {
            assertEquals(e.getValue().get("sha256").asText(), ours.get(e.getKey()), e.getKey());
        }
    }

    private static String sha256(TorchDistViews.LayerTensor t) throws Exception {
        long cols = Piece.colsOf(t.shape());
        int size = t.pieces().getFirst().src().dtype().size();
        byte[] out = new byte[(int) (Shapes.numel(t.shape()) * size)];
        for (Piece p : t.pieces()) {
            for (long r = p.hfRow0(); r < p.hfRow0() + p.rows(); r++) {
                for (long c = p.hfCol0(); c < p.hfCol0() + p.cols(); c++) {
                    long from = p.byteOffset(r, c);
                    for (int b = 0; b < size; b++) {
                        out[(int) ((r * cols + c) * size + b)] = p.src().storage().get(
                                java.lang.foreign.ValueLayout.JAVA_BYTE, from + b);
                    }
                }
            }
        }
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(out));
    }

    @Test
    void stepFolderIsIdenticalToItsHfCopy() {
        Comparison c = diff(ROOT.resolve("global_step_10"));
        assertEquals(0, c.findings());
        assertEquals(hfTensorCount(), c.outcome().tensors().size(), "every HF tensor compared, none left over");
        assertTrue(c.outcome().tensors().stream().allMatch(t -> t.verdict() == Verdict.IDENTICAL));
    }

    @Test
    void torchDistIsIdenticalToTheLegacyCopyOfTheSameRanks() {
        Comparison c = diff(ROOT.resolve("legacy"), ITER);
        assertEquals(0, c.findings());
        assertEquals(hfTensorCount(), c.outcome().tensors().size());
        assertTrue(c.outcome().tensors().stream().allMatch(t -> t.verdict() == Verdict.IDENTICAL));
    }

    @Test
    void aProtocol5IndexReadsTheSame() throws Exception {
        Path it = ROOT.resolve("protocol5/iter_0000010");
        assertEquals(5, Files.readAllBytes(it.resolve(".metadata"))[1], "the fixture's pickle protocol");
        Comparison c = diff(HF, it);
        assertEquals(0, c.findings());
        assertEquals(hfTensorCount(), c.outcome().tensors().size());
    }

    @Test
    void oneChangedElementIsBlamedOnItsFileChunkAndElement() {
        JsonNode f = Fixtures.json(ROOT.resolve("faults/element/FAULT.json"));
        Comparison c = diff(HF, ROOT.resolve("faults/element/iter_0000010"));
        List<TensorResult> bad = c.outcome().tensors().stream().filter(t -> t.verdict().isFinding()).toList();
        assertEquals(1, bad.size());
        // Global QKV row 64 + 5 = 69 of layer 2: group 1 (64 rows a group), row 5 of its 2 query heads x 16.
        long layer = f.get("chunk_offsets").get(0).asLong();
        long globalRow = f.get("chunk_offsets").get(1).asLong() + f.get("element_in_chunk").get(1).asLong();
        long col = f.get("element_in_chunk").get(2).asLong();
        long qRow = (globalRow / 64) * 32 + globalRow % 64;
        TensorResult t = bad.getFirst();
        assertEquals("model.layers." + layer + ".self_attn.q_proj.weight", t.name());
        assertEquals(1, t.stats().count - t.stats().equal);
        TensorResult.Where w = t.where().getFirst();
        assertEquals(f.get("file").asText() + "@" + f.get("file_offset").asLong(), w.b().file());
        assertEquals(f.get("key").asText() + "[2, 64:128, 0:64]", w.b().key());
        assertEquals("[" + qRow + ", " + col + "]", w.max().hfIndex());
        assertEquals("[" + f.get("element_in_chunk").get(1) + ", " + col + "]", w.max().indexB(),
                "the element within the chunk's layer slice");
    }

    @Test
    void aTruncatedDistcpFileIsAOneLineErrorNamingFileAndKey() {
        BadInputException e = assertThrows(BadInputException.class,
                () -> TorchDistCheckpoint.open(ROOT.resolve("faults/truncated/iter_0000010")).close());
        assertTrue(e.getMessage().contains("__3_0.distcp") && e.getMessage().contains("truncated")
                && e.getMessage().contains("decoder.layers."), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"));
    }

    @Test
    void aChunkMissingFromTheIndexIsAGapAtItsPlace() {
        BadInputException e = assertThrows(BadInputException.class,
                () -> TorchDistCheckpoint.open(ROOT.resolve("faults/missing_chunk/iter_0000010")).close());
        assertTrue(e.getMessage().contains(".metadata") && e.getMessage().contains(
                "decoder.layers.self_attention.linear_qkv.weight") && e.getMessage().contains("[2, 64, 0] is in no chunk"),
                e.getMessage());
    }

    @Test
    void anIndexHoldingAForeignClassIsRefusedByName() {
        BadInputException e = assertThrows(BadInputException.class,
                () -> TorchDistCheckpoint.open(ROOT.resolve("faults/foreign_class/iter_0000010")).close());
        assertTrue(e.getMessage().contains("collections.Counter"), e.getMessage());
    }

    @Test
    void toHfIsBitwiseEqualToTheHfCopy(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("hf");
        Convert.Result r = Convert.toHf(ITER, new dev.ckptdiff.convert.OutputFolder.Target(out, false), HF, null, Long.MAX_VALUE, differ());
        assertTrue(r.verified());
        assertEquals(-1, Files.mismatch(out.resolve("model.safetensors"), HF.resolve("model.safetensors")));
    }

    @Test
    void reshardIntoLegacyShardsDiffsIdenticalAgainstTheHfCopy(@TempDir Path tmp) {
        Path out = tmp.resolve("meg");
        Convert.Result r = Convert.reshard(ITER, new dev.ckptdiff.convert.OutputFolder.Target(out, false), 1, 2, differ());
        assertTrue(r.verified());
        assertTrue(Files.isRegularFile(out.resolve("iter_0000000/mp_rank_00_001/model_optim_rng.pt")));
        Comparison c = diff(out, HF);
        assertEquals(0, c.findings());
        assertEquals(hfTensorCount(), c.outcome().tensors().size());
    }

    @Test
    void checkPassesACleanStepAndFindsArgsThatDisagreeWithTheWeights() {
        List<Section> clean = CheckRunner.run(ROOT.resolve("global_step_10"), null);
        Section td = clean.stream().filter(x -> x.title().contains("torch_dist")).findFirst().orElseThrow();
        assertEquals(0, td.errors(), td.findings().toString());
        assertEquals("10 (iter_0000010)", td.facts().get("iteration"));

        // common.pt (older Megatron-Core) wins over the common_state item, as in Megatron-Core's loader.
        Path bad = ROOT.resolve("faults/wrong_args/global_step_10");
        try (TorchDistCheckpoint d = TorchDistCheckpoint.open(bad.resolve("actor/iter_0000010"))) {
            assertEquals("common.pt", d.commonSource().orElseThrow());
            assertEquals(128, d.args().getLong("ffn_hidden_size", -1));
        }
        Section s = CheckRunner.run(bad, null).stream().filter(x -> x.title().contains("torch_dist")).findFirst().orElseThrow();
        List<String> subjects = s.findings().stream().filter(f -> f.severity() == Severity.ERROR).map(Finding::subject).toList();
        assertEquals(List.of("decoder.layers.mlp.linear_fc1.weight", "decoder.layers.mlp.linear_fc2.weight",
                "args.ffn_hidden_size"), subjects);
        assertTrue(s.findings().getFirst().message().contains("imply [4, 256, 64]"), s.findings().getFirst().message());
    }
}
