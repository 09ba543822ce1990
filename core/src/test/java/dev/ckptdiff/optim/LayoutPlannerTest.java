package dev.ckptdiff.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.tensor.DType;

/**
 * Megatron's layout rules on sizes the real fixtures do not have (every parameter there is a multiple of 64
 * elements, so start alignment never leaves a gap), and round-to-nearest-even at ties.
 */
class LayoutPlannerTest {
    static LayoutPlanner.Param p(String name, long numel, boolean shared) {
        return new LayoutPlanner.Param(name, numel, "bfloat16", false, shared);
    }

    @Test
    void startsAreAlignedTo64InReverseOrderAndTheFileOffsetKeepsTheGap() {
        List<LayoutPlanner.Param> params = List.of(p("a", 100, false), p("b", 10, false));
        GradBuffer b = LayoutPlanner.plan(params, 0, new LayoutPlanner.Settings(null, 2, 2, "float32", true, false)).getFirst();
        // reverse order: b first at 0..10; a's start 10 rounds up to 64
        assertEquals(List.of(new GradBuffer.Placement("b", 0, 10, 0), new GradBuffer.Placement("a", 64, 164, 0)), b.params());
        assertEquals(List.of(new GradBuffer.Bucket(0, 164, 256)), b.buckets()); // end padded to lcm(2, 128)
        assertEquals(64, b.coalescedOffset(b.params().get(1)));
        GradBuffer old = LayoutPlanner.plan(params, 0, new LayoutPlanner.Settings(null, 2, 2, "float32", false, false)).getFirst();
        assertEquals(new GradBuffer.Placement("a", 10, 110, 0), old.params().get(1)); // Megatron-Core 0.7: no alignment
    }

    @Test
    void aSharedEmbeddingClosesTheOpenBucketAndTakesOneOfItsOwn() {
        List<LayoutPlanner.Param> params = List.of(p("emb", 300, true), p("x", 10, false), p("y", 20, false));
        GradBuffer b = LayoutPlanner.plan(params, 0, new LayoutPlanner.Settings(null, 1, 1, "float32", true, false)).getFirst();
        assertEquals(List.of(new GradBuffer.Bucket(0, 128, 128), new GradBuffer.Bucket(128, 300, 384)), b.buckets());
        assertEquals(new GradBuffer.Placement("emb", 128, 428, 1), b.params().get(2));
        assertEquals(128, b.coalescedOffset(b.params().get(2))); // earlier bucket counted unpadded: 128
    }

    @Test
    void bucketsCloseOnceTheyReachTheBucketSizeAndHighBusbwPadsTo2Pow16() {
        List<LayoutPlanner.Param> params = List.of(p("a", 64, false), p("b", 64, false), p("c", 64, false));
        GradBuffer b = LayoutPlanner.plan(params, 0, new LayoutPlanner.Settings(100L, 2, 2, "float32", true, true)).getFirst();
        // c (0..64) is below 100; b ends at 128 >= 100 and closes bucket 0; a opens bucket 1 at 65536
        assertEquals(List.of(new GradBuffer.Bucket(0, 128, 65536), new GradBuffer.Bucket(65536, 64, 65536)), b.buckets());
        assertEquals(128, b.coalescedOffset(b.params().get(2)));
    }

    @Test
    void expertParametersGetTheirOwnBufferWithTheExpertDpSize() {
        List<LayoutPlanner.Param> params = List.of(p("dense", 64, false),
                new LayoutPlanner.Param("mlp.experts.0.w", 64, "bfloat16", true, false));
        List<GradBuffer> bufs = LayoutPlanner.plan(params, 0, new LayoutPlanner.Settings(null, 4, 1, "float32", true, false));
        assertEquals(2, bufs.size());
        assertEquals(GradBuffer.Kind.DENSE, bufs.get(0).kind());
        assertEquals(4, bufs.get(0).dpSize());
        assertEquals(GradBuffer.Kind.EXPERT, bufs.get(1).kind());
        assertEquals(1, bufs.get(1).dpSize());
        assertEquals("mlp.experts.0.w", bufs.get(1).params().getFirst().name());
    }

    @Test
    void mastersRoundToNearestEvenAtTies() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate(4);
            float bf16Tie = 1f + 0x1p-8f; // halfway between bf16 1.0 and 1.0078125: even is 1.0
            w.set(MappedFile.SHORT_LE, 0, (short) 0x3F80);
            assertTrue(MasterCheck.roundsTo(bf16Tie, DType.BF16, w, 0));
            w.set(MappedFile.SHORT_LE, 0, (short) 0x3F81);
            assertFalse(MasterCheck.roundsTo(bf16Tie, DType.BF16, w, 0));
            float fp16Tie = 1f + 0x1p-11f; // halfway between fp16 1.0 and 1 + 2^-10
            w.set(MappedFile.SHORT_LE, 0, (short) 0x3C00);
            assertTrue(MasterCheck.roundsTo(fp16Tie, DType.F16, w, 0));
            w.set(MappedFile.SHORT_LE, 0, (short) 0x3C01);
            assertFalse(MasterCheck.roundsTo(fp16Tie, DType.F16, w, 0));
            float odd = 1f + 3 * 0x1p-8f; // halfway between 0x3F81 and 0x3F82: even is 0x3F82
            w.set(MappedFile.SHORT_LE, 0, (short) 0x3F82);
            assertTrue(MasterCheck.roundsTo(odd, DType.BF16, w, 0));
        }
    }
}
