package dev.ckptdiff.megatron;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;

import dev.ckptdiff.io.BadInputException;

class LegacyFoldersTest {
    private static List<String> names(LegacyFolders l) {
        return l.folders().map(l::name).toList();
    }

    @Test
    void theBriefsExamples() {
        assertEquals(List.of("mp_rank_00_000", "mp_rank_01_001"), names(new LegacyFolders(2, 1, 2, 1, 1)));
        assertEquals(List.of("mp_rank_00_000", "mp_rank_01_001", "mp_rank_02_000", "mp_rank_03_001"),
                names(new LegacyFolders(4, 1, 2, 1, 1)));
        assertEquals(List.of("mp_rank_00_000", "mp_rank_00_001", "mp_rank_01_000", "mp_rank_01_001"),
                names(new LegacyFolders(2, 1, 2, 2, 1)));
        // ETP x EP > TP: the dense shard of TP rank 0 is written twice, with EP ranks 0 and 2
        assertEquals(List.of("mp_rank_00_000", "mp_rank_00_002", "mp_rank_01_001", "mp_rank_01_003"),
                names(new LegacyFolders(2, 1, 4, 1, 1)));
        // TP=2, ETP=1, EP=3: three writers cover every shard; the other three grid folders are not written
        assertEquals(List.of("mp_rank_00_000", "mp_rank_00_002", "mp_rank_01_001"), names(new LegacyFolders(2, 1, 3, 1, 1)));
        // ... unless context parallelism makes more dense ranks write (TP x CP = 6 writers)
        assertEquals(6, new LegacyFolders(2, 1, 3, 1, 3).count());
        assertEquals(List.of("mp_rank_00_001_000", "mp_rank_01_001_001"),
                names(new LegacyFolders(2, 2, 2, 1, 1)).stream().filter(n -> n.contains("_001_")).toList());
        assertEquals(List.of("mp_rank_00", "mp_rank_01"), names(LegacyFolders.dense(2, 1, 1, 1)));
    }

    /** Megatron's rule by enumeration: every rank of a world of each size, writing if dp or expert-dp rank is 0. */
    private static TreeSet<List<Integer>> simulated(int tp, int ep, int etp, int cp, int replicas) {
        int dense = tp * cp;
        int expert = etp * ep;
        int world = dense / gcd(dense, expert) * expert * replicas;
        TreeSet<List<Integer>> out = new TreeSet<>((a, b) -> a.get(0).equals(b.get(0)) ? a.get(1) - b.get(1) : a.get(0) - b.get(0));
        for (int r = 0; r < world; r++) {
            boolean dpZero = r / dense == 0;
            boolean edpZero = r / expert == 0;
            if (dpZero || edpZero) {
                out.add(List.of(r % tp, r / etp % ep));
            }
        }
        return out;
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    @Test
    void matchesTheWriterRuleOverManyLayouts() {
        int checked = 0;
        for (int tp = 1; tp <= 8; tp++) {
            for (int etp = 1; etp <= tp; etp++) {
                if (tp % etp != 0) {
                    continue;
                }
                for (int ep = 1; ep <= 8; ep++) {
                    for (int cp = 1; cp <= 3; cp++) {
                        LegacyFolders l = new LegacyFolders(tp, 1, ep, etp, cp);
                        List<List<Integer>> mine = new ArrayList<>(l.folders().map(f -> List.of(f.tp(), f.ep())).toList());
                        assertEquals(new ArrayList<>(simulated(tp, ep, etp, cp, 2)), mine, tp + " " + ep + " " + etp + " " + cp);
                        assertEquals(mine.size(), l.count());
                        for (int t = 0; t < tp; t++) {
                            for (int e = 0; e < ep; e++) {
                                assertEquals(mine.contains(List.of(t, e)), l.written(t, e));
                            }
                        }
                        checked++;
                    }
                }
            }
        }
        assertTrue(checked > 300, "layouts checked: " + checked);
    }

    @Test
    void hugeSizesStayLazy() {
        LegacyFolders l = new LegacyFolders(65_536, 65_536, 3, 1, 65_536);
        assertEquals(65_536L * 3 * 65_536, l.count());
        assertEquals(List.of("mp_rank_00_000_000", "mp_rank_00_000_001"), l.folders().limit(2).map(l::name).toList());
    }

    @Test
    void etpAboveTpOrNotDividingItIsRefused() {
        BadInputException e = assertThrows(BadInputException.class, () -> new LegacyFolders(2, 1, 2, 4, 1));
        assertTrue(e.getMessage().contains("ETP > TP"), e.getMessage());
        assertThrows(BadInputException.class, () -> new LegacyFolders(4, 1, 2, 3, 1));
    }
}
