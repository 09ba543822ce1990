package dev.ckptdiff.megatron;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;

import dev.ckptdiff.io.BadInputException;

/** Global layer numbers and gaps, from the local layer numbers stages hold. */
class LayerNumberingTest {

    /** Stage p's chunks, each the local layer numbers its keys use. */
    private static Map<Integer, List<TreeSet<Long>>> stages(long[][]... perStage) {
        Map<Integer, List<TreeSet<Long>>> out = new TreeMap<>();
        for (int p = 0; p < perStage.length; p++) {
            List<TreeSet<Long>> chunks = new ArrayList<>();
            for (long[] chunk : perStage[p]) {
                TreeSet<Long> s = new TreeSet<>();
                for (long l : chunk) {
                    s.add(l);
                }
                chunks.add(s);
            }
            out.put(p, chunks);
        }
        return out;
    }

    @Test
    void argsNumberStagesEvenWhenAStageLostItsLastLayer() {
        LayerNumbering n = LayerNumbering.of(stages(new long[][]{{0, 1}}, new long[][]{{0, 1, 2}}), 2, 1, 6, true, "it");
        assertEquals(3, n.global(1, 0, 0)); // the keys alone would say 2
        assertEquals(List.of(new LayerNumbering.Range(2, 2)), n.missing());
        assertEquals("layer 2 missing: args num_layers=6, shards hold 5 layers", n.describeMissing().orElseThrow());
    }

    @Test
    void virtualChunksFollowMegatronsOrder() {
        long[][] two = {{0, 1}, {0, 1}};
        LayerNumbering n = LayerNumbering.of(stages(two, two), 2, 2, 8, true, "it");
        assertEquals(0, n.global(0, 0, 0));
        assertEquals(2, n.global(1, 0, 0));
        assertEquals(4, n.global(0, 1, 0));
        assertEquals(7, n.global(1, 1, 1));
        assertTrue(n.describeMissing().isEmpty());
    }

    @Test
    void withoutNumLayersTheKeysCountAndHolesShow() {
        LayerNumbering n = LayerNumbering.of(stages(new long[][]{{0, 1, 2, 5}}, new long[][]{{0, 1}}), 2, 1, -1, true, "it");
        assertEquals(6, n.global(1, 0, 0));
        assertEquals(8, n.total());
        assertEquals("layers 3, 4 missing: the shards' keys run to layer 7, shards hold 6 layers",
                n.describeMissing().orElseThrow());
    }

    @Test
    void unevenStagesFallBackToTheKeys() {
        LayerNumbering n = LayerNumbering.of(stages(new long[][]{{0, 1, 2, 3}}, new long[][]{{0, 1}}), 2, 1, 6, false, "it");
        assertEquals(4, n.global(1, 0, 0));
        assertTrue(n.describeMissing().isEmpty());
    }

    @Test
    void aLocalLayerBeyondItsStageIsRefused() {
        BadInputException e = assertThrows(BadInputException.class, () ->
                LayerNumbering.of(stages(new long[][]{{0, 5}}, new long[][]{{0, 1, 2}}), 2, 1, 6, true, "DIR"));
        assertTrue(e.getMessage().startsWith("DIR: pipeline rank 0 holds local layer 5") && e.getMessage().contains("3 layer(s)"),
                e.getMessage());
    }

    @Test
    void hugeClaimsAreCountedNotListed() {
        TreeSet<Long> present = new TreeSet<>(List.of(0L, 1L, 999_999_999_999L));
        assertEquals("layers 2..999999999998 missing (999,999,999,997 layers): CLAIM, files hold 3 layers",
                LayerNumbering.describeMissing(present, 1_000_000_000_000L, "CLAIM", "files", "layer").orElseThrow());
        TreeSet<Long> every3rd = new TreeSet<>();
        for (long l = 0; l < 60; l += 3) {
            every3rd.add(l);
        }
        String m = LayerNumbering.describeMissing(every3rd, 60, "C", "files", "expert").orElseThrow();
        assertTrue(m.startsWith("experts 1, 2, 4, 5, 7, 8, ") && m.contains("... 12 more ranges missing (40 experts): C,"), m);
    }
}
