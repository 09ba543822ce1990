package dev.ckptdiff.diff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class NaturalOrderTest {
    @Test
    void numbersCompareByValueAnywhereInTheKey() {
        List<String> keys = new ArrayList<>(List.of("layers.10.mlp", "layers.2.mlp", "layers.2.attn", "embed",
                "layers.2.mlp.experts.linear_fc1.weight10", "layers.2.mlp.experts.linear_fc1.weight9", "layers.100.mlp"));
        NaturalOrder.sort(keys);
        assertEquals(List.of("embed", "layers.2.attn", "layers.2.mlp", "layers.2.mlp.experts.linear_fc1.weight9",
                "layers.2.mlp.experts.linear_fc1.weight10", "layers.10.mlp", "layers.100.mlp"), keys);
    }

    @Test
    void equalValuesFallThroughToTheRestAndThePrefixComesFirst() {
        assertEquals(0, NaturalOrder.compare("a007.b", "a7.b"));
        assertTrue(NaturalOrder.compare("a7.b", "a07.c") < 0);
        assertTrue(NaturalOrder.compare("layers.1", "layers.1.x") < 0);
        assertTrue(NaturalOrder.compare("layers.1.x", "layers.1") > 0);
        assertTrue(NaturalOrder.compare("a1b", "a1a") > 0);
    }

    @Test
    void runsLongerThanALongCompareByTheirFirstEighteenDigits() {
        // Beyond 18 digits only the leading ones count: a checkpoint key never holds such a number, but it must not overflow.
        assertEquals(0, NaturalOrder.compare("k1234567890123456789", "k1234567890123456780"));
        assertTrue(NaturalOrder.compare("k99999999999999999999.a", "k99999999999999999999.b") < 0);
    }

    @Test
    void sortingBySortKeysGivesTheComparatorsOrder() {
        java.util.Random rnd = new java.util.Random(7);
        String[] parts = {"layers.", "experts.", "weight", ".", "_", "a", "b", "Z", "~", "/", ""};
        for (int round = 0; round < 200; round++) {
            List<String> keys = new ArrayList<>();
            for (int k = 0; k < 60; k++) {
                StringBuilder b = new StringBuilder();
                for (int p = rnd.nextInt(6); p >= 0; p--) {
                    b.append(parts[rnd.nextInt(parts.length)]);
                    if (rnd.nextBoolean()) {
                        b.append(rnd.nextInt(4) == 0 ? rnd.nextInt(1_000_000_000) : rnd.nextInt(130));
                    }
                }
                keys.add(b.toString());
            }
            if (round % 10 == 0) {
                keys.add("layers.007.x"); // a leading zero: only the comparator can order it
            }
            List<String> expected = new ArrayList<>(keys);
            expected.sort(NaturalOrder::compare);
            NaturalOrder.sort(keys);
            assertEquals(expected, keys, "round " + round);
        }
    }

    @Test
    void sortKeysStandForTheNaturalOrder() {
        assertEquals("layers.12.mlp.experts.3117.w", NaturalOrder.sortKey("layers.2.mlp.experts.117.w"));
        assertEquals(null, NaturalOrder.sortKey("a007"));
        assertEquals(null, NaturalOrder.sortKey("k1234567890"));
        assertEquals("embed", NaturalOrder.sortKey("embed"));
    }

    @Test
    void sortByBreaksTiesWithTheSecondKeyStably() {
        List<String[]> items = new ArrayList<>(List.of(new String[]{"b2", "1"}, new String[]{"b10", "0"},
                new String[]{"b2", "0"}, new String[]{"a", "5"}));
        NaturalOrder.sortBy(items, x -> x[0], java.util.Comparator.comparing(x -> x[1]));
        assertEquals(List.of("a5", "b20", "b21", "b100"), items.stream().map(x -> x[0] + x[1]).toList());
    }
}
