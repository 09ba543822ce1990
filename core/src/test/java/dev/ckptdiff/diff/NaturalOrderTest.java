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
        keys.sort(Views::naturalOrder);
        assertEquals(List.of("embed", "layers.2.attn", "layers.2.mlp", "layers.2.mlp.experts.linear_fc1.weight9",
                "layers.2.mlp.experts.linear_fc1.weight10", "layers.10.mlp", "layers.100.mlp"), keys);
    }

    @Test
    void equalValuesFallThroughToTheRestAndThePrefixComesFirst() {
        assertEquals(0, Views.naturalOrder("a007.b", "a7.b"));
        assertTrue(Views.naturalOrder("a7.b", "a07.c") < 0);
        assertTrue(Views.naturalOrder("layers.1", "layers.1.x") < 0);
        assertTrue(Views.naturalOrder("layers.1.x", "layers.1") > 0);
        assertTrue(Views.naturalOrder("a1b", "a1a") > 0);
    }

    @Test
    void runsLongerThanALongCompareByTheirFirstEighteenDigits() {
        // Beyond 18 digits only the leading ones count: a checkpoint key never holds such a number, but it must not overflow.
        assertEquals(0, Views.naturalOrder("k1234567890123456789", "k1234567890123456780"));
        assertTrue(Views.naturalOrder("k99999999999999999999.a", "k99999999999999999999.b") < 0);
    }
}
