package dev.ckptdiff.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.BigInteger;

import org.junit.jupiter.api.Test;

class IntegralTest {
    private static String refused(Object v, long min, long max) {
        String m = assertThrows(BadInputException.class, () -> Integral.of(v, "f.json", "k", min, max)).getMessage();
        assertTrue(m.startsWith("f.json: k is "), m);
        return m;
    }

    @Test
    void wholeNumbersInRangeAreTakenAsTheyAre() {
        assertEquals(64, Integral.of(64, "f", "k", 0, 100));
        assertEquals(1L << 40, Integral.of(1L << 40, "f", "k", 0, Long.MAX_VALUE));
        assertEquals(-3, Integral.of(BigInteger.valueOf(-3), "f", "k", -5, 5));
    }

    @Test
    void nothingIsNarrowed() {
        assertTrue(refused(64.5, 0, 100).contains("64.5"));
        assertTrue(refused(64.0, 0, 100).contains("whole number"));
        assertTrue(refused(new BigDecimal("1e3"), 0, 10_000).contains("whole number"));
        // 2^32 + 2 used to become 2 through an int cast
        assertTrue(refused((1L << 32) + 2, 0, Integer.MAX_VALUE).contains("4294967298, outside 0..2147483647"));
        assertTrue(refused(BigInteger.TWO.pow(64).add(BigInteger.TWO), 0, Long.MAX_VALUE).contains("18446744073709551618"));
        assertTrue(refused(-1, 0, 10).contains("outside"));
    }

    @Test
    void hugeValuesAreDescribedBySizeAndOtherTypesByName() {
        assertTrue(refused(BigInteger.TEN.pow(5000), 0, 10).contains("a number of about 5000 digits"));
        assertTrue(refused("4", 0, 10).contains("'4' (string)"));
        assertTrue(refused(true, 0, 10).contains("true"));
        assertTrue(refused(null, 0, 10).contains("missing or null"));
    }
}
