package dev.ckptdiff.nativebridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffJob;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.Run;
import dev.ckptdiff.diff.ScalarEngine;
import dev.ckptdiff.diff.Stats;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.diff.VectorEngine;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.tensor.DType;

/** The torch engine must report what the vector engine reports, on every fixture and on edge values. */
class TorchEngineTest {
    private static TorchEngine torch;

    @BeforeAll
    static void load() {
        torch = new TorchEngine("cpu");
    }

    static Path fixtures() {
        return Path.of(System.getProperty("ckptdiff.testdata", "../testdata"), "fixtures").toAbsolutePath().normalize();
    }

    static void same(Stats r, Stats t, String what) {
        assertEquals(r.count, t.count, what + " count");
        assertEquals(r.equal, t.equal, what + " equal");
        assertEquals(r.overTol, t.overTol, what + " overTol");
        assertEquals(r.nanA, t.nanA, what + " nanA");
        assertEquals(r.nanB, t.nanB, what + " nanB");
        assertEquals(r.infA, t.infA, what + " infA");
        assertEquals(r.infB, t.infB, what + " infB");
        assertEquals(r.maxAbs, t.maxAbs, 0.0, what + " maxAbs");
        assertEquals(r.maxIndex, t.maxIndex, what + " maxIndex");
        assertEquals(r.firstDiff, t.firstDiff, what + " firstDiff");
        assertEquals(r.skipped, t.skipped, what + " skipped");
        assertEquals(r.relL2(), t.relL2(), 1e-6 + 1e-5 * r.relL2(), what + " relL2");
        assertEquals(r.cosine(), t.cosine(), 1e-6, what + " cosine");
    }

    @Test
    void sameMetricsAsTheVectorEngineOnEveryFixture() {
        List<String> steps = List.of("llama_tp2/global_step_10", "qwen2_tp2_pp2/global_step_10",
                "qwen3_pp2_vpp2/global_step_10", "faults/hf_element/global_step_10", "faults/qkv_kv_swap/global_step_10",
                "faults/hf_gate_up_swap/global_step_10", "faults/hf_missing/global_step_10", "faults/shard_nan/global_step_10",
                "faults/hf_fp16/global_step_10", "faults/tied_lm_head/global_step_10", "faults/replicated_norm/global_step_10");
        for (String step : steps) {
            DiffJob.Pair pair = DiffJob.pairs(List.of(fixtures().resolve(step))).getFirst();
            Comparison v = DiffJob.compare(pair, new Differ(new VectorEngine(),
                    new Differ.Options(Tolerance.DEFAULT, false, 2), x -> { }), x -> { });
            Comparison t = DiffJob.compare(pair, new Differ(torch,
                    new Differ.Options(Tolerance.DEFAULT, false, 2), x -> { }), x -> { });
            assertEquals(v.findings(), t.findings(), step);
            List<TensorResult> all = new java.util.ArrayList<>(v.outcome().tensors());
            all.addAll(v.outcome().checks());
            List<TensorResult> allT = new java.util.ArrayList<>(t.outcome().tensors());
            allT.addAll(t.outcome().checks());
            for (int i = 0; i < all.size(); i++) {
                assertEquals(all.get(i).name(), allT.get(i).name());
                assertEquals(all.get(i).verdict(), allT.get(i).verdict(), step + " " + all.get(i).name());
                same(all.get(i).stats(), allT.get(i).stats(), step + " " + all.get(i).name());
            }
        }
    }

    @Test
    void sameMetricsAsTheScalarReferenceOnEdgeValues() {
        Random rnd = new Random(7);
        int n = 3000;
        for (DType ta : List.of(DType.BF16, DType.F16, DType.F32)) {
            for (DType tb : List.of(DType.BF16, DType.F16, DType.F32)) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment a = arena.allocate((long) n * ta.size());
                    MemorySegment b = arena.allocate((long) n * tb.size());
                    for (int i = 0; i < n; i++) {
                        float x = switch (rnd.nextInt(16)) {
                            case 0 -> Float.NaN;
                            case 1 -> Float.NEGATIVE_INFINITY;
                            case 2 -> -0.0f;
                            case 3 -> 1e-7f;
                            default -> (float) rnd.nextGaussian();
                        };
                        float y = rnd.nextInt(3) == 0 ? x + (float) rnd.nextGaussian() * 1e-2f : x;
                        ta.write(a, (long) i * ta.size(), y);
                        tb.write(b, (long) i * tb.size(), x);
                    }
                    Run run = new Run(a, 0, ta, b, 0, tb, n, 5);
                    Stats ref = new Stats();
                    ScalarEngine.INSTANCE.compare(run, Tolerance.DEFAULT, ref, false);
                    Stats t = new Stats();
                    torch.compare(run, Tolerance.DEFAULT, t, false);
                    same(ref, t, ta + " vs " + tb);
                }
            }
        }
    }

    @Test
    void noGpuIsAClearError() {
        if (ai.djl.engine.Engine.getEngine("PyTorch").getGpuCount() == 0) {
            BadInputException e = assertThrows(BadInputException.class, () -> new TorchEngine("gpu"));
            assertTrue(e.getMessage().contains("no GPU"), e.getMessage());
        }
    }

    /** A file truncated under the mapping faults in Java's copy, never inside libtorch (which would crash the JVM). */
    @Test
    void aFileTruncatedWhileReadingIsAnErrorNotACrash(@org.junit.jupiter.api.io.TempDir Path tmp) throws java.io.IOException {
        Path src = fixtures().resolve("faults/hf_fp16/global_step_10");
        Path step = tmp.resolve("global_step_10");
        try (var files = java.nio.file.Files.walk(src)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path dst = step.resolve(src.relativize(p).toString());
                if (java.nio.file.Files.isDirectory(p)) {
                    java.nio.file.Files.createDirectories(dst);
                } else {
                    java.nio.file.Files.copy(p, dst);
                }
            }
        }
        Path victim = step.resolve("actor/hf_model/model.safetensors");
        DiffJob.Prepared p = DiffJob.prepare(DiffJob.pairs(List.of(step)).getFirst());
        try (var ch = java.nio.channels.FileChannel.open(victim, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(64);
        }
        Differ d = new Differ(torch, new Differ.Options(Tolerance.DEFAULT, false, 2), b -> { });
        BadInputException e = assertThrows(BadInputException.class, () -> DiffJob.compare(p, d, b -> { }));
        assertTrue(e.getMessage().contains(victim + ": changed while it was being read"), e.getMessage());
    }
}
