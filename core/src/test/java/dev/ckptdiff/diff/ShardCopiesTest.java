package dev.ckptdiff.diff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.ckptdiff.io.BadInputException;

class ShardCopiesTest {
    /** A key's shard in one folder: the folder's name and its TP rank. */
    private record Held(String folder, int tp) {
    }

    private static List<List<String>> copies(List<Held> held, int width, Map<Integer, List<String>> holders) {
        return ShardCopies.of(held, h -> h.tp() % width, width, r -> holders.getOrDefault(r, List.of()), Held::folder,
                "iter: k", false).stream().map(c -> c.stream().map(Held::folder).toList()).toList();
    }

    @Test
    void theFullGridKeepsOneCopyPerEpFolder() {
        List<Held> held = List.of(new Held("mp_rank_00_000", 0), new Held("mp_rank_00_001", 0),
                new Held("mp_rank_01_000", 1), new Held("mp_rank_01_001", 1));
        assertEquals(List.of(List.of("mp_rank_00_000", "mp_rank_01_000"), List.of("mp_rank_00_001", "mp_rank_01_001")),
                copies(held, 2, Map.of()));
    }

    @Test
    void megatronsPartialSetsMakeCopiesByTpRank() {
        // TP=2, ETP=1, EP=2: one folder per TP rank, no replica
        assertEquals(List.of(List.of("mp_rank_00_000", "mp_rank_01_001")),
                copies(List.of(new Held("mp_rank_00_000", 0), new Held("mp_rank_01_001", 1)), 2, Map.of()));
        // TP=2, ETP=1, EP=3: TP rank 0 written twice, TP rank 1 once; its second copy reuses the first
        assertEquals(List.of(List.of("mp_rank_00_000", "mp_rank_01_001"), List.of("mp_rank_00_002", "mp_rank_01_001")),
                copies(List.of(new Held("mp_rank_00_000", 0), new Held("mp_rank_01_001", 1), new Held("mp_rank_00_002", 0)),
                        2, Map.of()));
        // an expert of ETP=1 in two TP folders (TP=4, ETP=1, EP=2): two whole copies
        assertEquals(List.of(List.of("mp_rank_00_000"), List.of("mp_rank_02_000")),
                copies(List.of(new Held("mp_rank_00_000", 0), new Held("mp_rank_02_000", 2)), 1, Map.of()));
    }

    @Test
    void aFolderOfTheRankLackingTheKeyIsNamed() {
        BadInputException e = assertThrows(BadInputException.class, () -> copies(
                List.of(new Held("mp_rank_00_000", 0), new Held("mp_rank_01_001", 1)), 2,
                Map.of(0, List.of("mp_rank_00_000", "mp_rank_00_002"), 1, List.of("mp_rank_01_001"))));
        assertEquals("iter: k is missing from mp_rank_00_002, a shard of TP rank 0 (found on mp_rank_00_000,"
                + " mp_rank_01_001)", e.getMessage());
        BadInputException none = assertThrows(BadInputException.class, () -> copies(
                List.of(new Held("mp_rank_00_000", 0)), 2, Map.of()));
        assertEquals("iter: k is missing from the shard of TP rank 1 (found on mp_rank_00_000)", none.getMessage());
    }
}
