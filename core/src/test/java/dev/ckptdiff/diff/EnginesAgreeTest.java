package dev.ckptdiff.diff;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.tensor.DType;

/** The vector engine must count, locate and measure exactly as the scalar reference does. */
class EnginesAgreeTest {

    static void assertSame(Stats r, Stats v, String what) {
        assertEquals(r.count, v.count, what + " count");
        assertEquals(r.equal, v.equal, what + " equal");
        assertEquals(r.overTol, v.overTol, what + " overTol");
        assertEquals(r.nanA + r.nanB + r.infA + r.infB, v.nanA + v.nanB + v.infA + v.infB, what + " non-finite");
        assertEquals(r.nanA, v.nanA, what + " nanA");
        assertEquals(r.infB, v.infB, what + " infB");
        assertEquals(r.maxAbs, v.maxAbs, 0.0, what + " maxAbs");
        assertEquals(r.maxIndex, v.maxIndex, what + " maxIndex");
        assertEquals(r.firstDiff, v.firstDiff, what + " firstDiff");
        assertEquals(r.skipped, v.skipped, what + " skipped");
        assertEquals(r.relL2(), v.relL2(), 1e-5 * Math.max(r.relL2(), 1e-30), what + " relL2");
        assertEquals(r.oneMinusCosine(), v.oneMinusCosine(), 1e-4 * Math.max(r.oneMinusCosine(), 1e-12), what + " 1-cos");
        if (v.normsSkipped > 0) { // the byte screen settled it: only for runs equal bit for bit
            assertEquals(v.count, v.equal, what + " skipped norms only when identical");
            return;
        }
        assertEquals(r.sumSq, v.sumSq, 1e-5 * Math.max(r.sumSq, 1e-30), what + " sumSq");
        assertEquals(r.sumSqA, v.sumSqA, 1e-5 * r.sumSqA, what + " sumSqA");
        assertEquals(r.sumAbs, v.sumAbs, 1e-5 * Math.max(r.sumAbs, 1e-30), what + " sumAbs");
    }

    @Test
    void onEveryFaultFixture() {
        for (String f : List.of("hf_element", "qkv_kv_swap", "shard_nan", "hf_fp16", "hf_gate_up_swap")) {
            java.nio.file.Path step = Fixtures.path("faults/" + f + "/global_step_10");
            var pair = DiffJob.pairs(List.of(step)).getFirst();
            Comparison ref = DiffJob.compare(pair, new Differ(ScalarEngine.INSTANCE,
                    new Differ.Options(Tolerance.DEFAULT, false, 1), b -> { }), b -> { });
            Comparison vec = DiffJob.compare(pair, new Differ(new VectorEngine(0),
                    new Differ.Options(Tolerance.DEFAULT, false, 2), b -> { }), b -> { });
            for (int i = 0; i < ref.outcome().tensors().size(); i++) {
                TensorResult r = ref.outcome().tensors().get(i);
                TensorResult v = vec.outcome().tensors().get(i);
                assertEquals(r.name(), v.name());
                assertEquals(r.verdict(), v.verdict(), f + " " + r.name());
                assertSame(r.stats(), v.stats(), f + " " + r.name());
            }
        }
    }


    /** A pair NaN on both sides is one pair left out of the mean, not two. */
    @Test
    void meanCountsEachSkippedPairOnce() {
        try (Arena arena = Arena.ofConfined()) {
            int n = 64;
            MemorySegment a = arena.allocate(4L * n);
            MemorySegment b = arena.allocate(4L * n);
            for (int i = 0; i < n; i++) {
                DType.F32.write(a, 4L * i, i == 3 ? Float.NaN : 1.0f);
                DType.F32.write(b, 4L * i, i == 3 ? Float.NaN : i == 9 ? Float.POSITIVE_INFINITY : 0.5f);
            }
            Run run = new Run(a, 0, DType.F32, b, 0, DType.F32, n, 0);
            for (ComputeEngine e : List.of(ScalarEngine.INSTANCE, new VectorEngine(0))) {
                Stats s = new Stats();
                e.compare(run, Tolerance.DEFAULT, s, true);
                assertEquals(2, s.skipped, e.name());
                assertEquals(0.5, s.meanAbs(), 0.0, e.name() + ": 62 finite pairs, each 0.5 apart");
            }
        }
    }

    @Test
    void onEdgeValuesOfEveryDecodedType() {
        Random rnd = new Random(42);
        int n = 5000;
        for (DType ta : List.of(DType.BF16, DType.F16, DType.F32)) {
            for (DType tb : List.of(DType.BF16, DType.F16, DType.F32)) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment a = arena.allocate((long) n * ta.size());
                    MemorySegment b = arena.allocate((long) n * tb.size());
                    for (int i = 0; i < n; i++) {
                        float x = switch (rnd.nextInt(20)) {
                            case 0 -> Float.NaN;
                            case 1 -> Float.POSITIVE_INFINITY;
                            case 2 -> -0.0f;
                            case 3 -> 1e-7f; // fp16 subnormal
                            case 4 -> 70000f; // beyond fp16
                            default -> (float) rnd.nextGaussian();
                        };
                        float y = rnd.nextInt(4) == 0 ? x + (float) rnd.nextGaussian() * 1e-3f : x;
                        ta.write(a, (long) i * ta.size(), i < 2000 ? y : x);
                        tb.write(b, (long) i * tb.size(), x);
                    }
                    // whole run, and a run that starts mid-block with a ragged tail
                    for (long[] r : new long[][]{{0, n}, {13, n - 13 - 5}}) {
                        Run run = new Run(a, r[0] * ta.size(), ta, b, r[0] * tb.size(), tb, r[1], 100);
                        Stats ref = new Stats();
                        ScalarEngine.INSTANCE.compare(run, Tolerance.DEFAULT, ref, false);
                        Stats vec = new Stats();
                        new VectorEngine(0).compare(run, Tolerance.DEFAULT, vec, true);
                        assertSame(ref, vec, ta + " vs " + tb + " from " + r[0]);
                        Stats small = new Stats(); // the default engine sends a run this small to the scalar code
                        new VectorEngine().compare(run, Tolerance.DEFAULT, small, true);
                        assertSame(ref, small, ta + " vs " + tb + " from " + r[0] + " (small run)");
                    }
                }
            }
        }
    }
}
