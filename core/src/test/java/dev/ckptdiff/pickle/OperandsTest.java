package dev.ckptdiff.pickle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import dev.ckptdiff.Fixtures;

/**
 * Every operand reader of the unpickler against what Python's pickle module reads back
 * (testdata/hostile/gen_numbers.py): integers of every width and sign, floats, strings and bytes
 * up to past 64 KiB, in pickles larger than that, in protocols 0, 2 and 4.
 */
class OperandsTest {
    @Test
    void valuesAreWhatPythonReadsBack() throws Exception {
        JsonNode expected = new ObjectMapper().readTree(Fixtures.path("hostile/pickle/numbers.json").toFile());
        for (int proto : new int[]{0, 2, 4}) {
            Path file = Fixtures.path("hostile/pickle/numbers_p" + proto + ".pkl");
            String where = file.getFileName().toString();
            try (Arena arena = Arena.ofConfined()) {
                byte[] bytes = Files.readAllBytes(file);
                MemorySegment data = arena.allocate(bytes.length);
                data.copyFrom(MemorySegment.ofArray(bytes));
                Py.PyList root = (Py.PyList) Unpickler.load(data, where, Reducer.NONE, PickleLimits.DEFAULT);
                List<Py> ints = ((Py.PyList) root.items.get(0)).items;
                assertEquals(expected.get("ints").size(), ints.size(), where);
                for (int i = 0; i < ints.size(); i++) {
                    BigInteger v = switch (ints.get(i)) {
                        case Py.Int(long x) -> BigInteger.valueOf(x);
                        case Py.BigInt(BigInteger x) -> x;
                        default -> throw new AssertionError(where + ": int " + i + " is " + ints.get(i));
                    };
                    assertEquals(new BigInteger(expected.get("ints").get(i).asText()), v, where + ": int " + i);
                }
                List<Py> floats = ((Py.PyList) root.items.get(1)).items;
                for (int i = 0; i < floats.size(); i++) {
                    assertEquals(expected.get("floats").get(i).asText(), hex(((Py.Float) floats.get(i)).value()),
                            where + ": float " + i);
                }
                List<Py> strs = ((Py.PyList) root.items.get(2)).items;
                for (int i = 0; i < strs.size(); i++) {
                    String s = ((Py.Str) strs.get(i)).value();
                    JsonNode e = expected.get("strs").get(i);
                    assertEquals(e.get("chars").asInt(), s.codePointCount(0, s.length()), where + ": str " + i);
                    assertEquals(e.get("sha256").asText(), sha256(s.getBytes(StandardCharsets.UTF_8)), where + ": str " + i);
                }
                List<Py> raw = ((Py.PyList) root.items.get(3)).items;
                for (int i = 0; i < raw.size(); i++) {
                    byte[] b = ((Py.Bytes) raw.get(i)).value();
                    assertEquals(expected.get("bytes").get(i).get("sha256").asText(), sha256(b), where + ": bytes " + i);
                }
                assertArrayEquals(new byte[]{0, (byte) 0xff}, ((Py.Bytes) raw.get(1)).value(), where);
            }
        }
    }

    @Test
    void unicodeEscapesDecodeOnlyAfterAnOddNumberOfBackslashes() throws Exception {
        JsonNode expected = new ObjectMapper().readTree(Fixtures.path("hostile/pickle/numbers.json").toFile()).get("escapes");
        byte[] bytes = Files.readAllBytes(Fixtures.path("hostile/pickle/unicode_escapes.pkl"));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(bytes.length);
            data.copyFrom(MemorySegment.ofArray(bytes));
            List<Py> strs = ((Py.PyList) Unpickler.load(data, "escapes", Reducer.NONE, PickleLimits.DEFAULT)).items;
            assertEquals(expected.size(), strs.size());
            for (int i = 0; i < strs.size(); i++) {
                int[] cps = ((Py.Str) strs.get(i)).value().codePoints().toArray();
                int[] want = new int[expected.get(i).size()];
                for (int k = 0; k < want.length; k++) {
                    want[k] = expected.get(i).get(k).asInt();
                }
                assertArrayEquals(want, cps, "string " + i);
            }
        }
        for (String bad : List.of("V\\u004\n.", "V\\U00110000\n.")) { // truncated; beyond U+10FFFF: Python fails too
            try (Arena arena = Arena.ofConfined()) {
                byte[] b = bad.getBytes(StandardCharsets.ISO_8859_1);
                MemorySegment data = arena.allocate(b.length);
                data.copyFrom(MemorySegment.ofArray(b));
                org.junit.jupiter.api.Assertions.assertThrows(dev.ckptdiff.io.BadInputException.class,
                        () -> Unpickler.load(data, "bad", Reducer.NONE, PickleLimits.DEFAULT), bad);
            }
        }
    }

    /** Text floats: what float() takes (repr's inf and nan, underscores between digits), and what it refuses. */
    @Test
    void textFloatsReadAsPythonsFloatReadsThem() {
        assertEquals(Double.POSITIVE_INFINITY, Unpickler.pythonFloat("inf"));
        assertEquals(Double.NEGATIVE_INFINITY, Unpickler.pythonFloat("-Infinity"));
        org.junit.jupiter.api.Assertions.assertTrue(Double.isNaN(Unpickler.pythonFloat("nan")));
        assertEquals(1000.5, Unpickler.pythonFloat(" 1_000.5 "));
        assertEquals(0.5, Unpickler.pythonFloat(".5"));
        assertEquals(1.0, Unpickler.pythonFloat("1."));
        assertEquals(-1e-5, Unpickler.pythonFloat("-1E-5"));
        for (String bad : List.of("0x1p3", "1.5d", "1__0", "_1", "1_", "Infinityx", "", ".", "e5", "1e")) {
            org.junit.jupiter.api.Assertions.assertThrows(NumberFormatException.class, () -> Unpickler.pythonFloat(bad), bad);
        }
    }

    /** float.hex() as Python writes it. */
    private static String hex(double d) {
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return (1 / d < 0 ? "-" : "") + "0x0.0p+0";
        }
        long bits = Double.doubleToRawLongBits(d);
        boolean subnormal = Math.getExponent(d) < Double.MIN_EXPONENT;
        long mantissa = bits & ((1L << 52) - 1);
        int exp = subnormal ? Double.MIN_EXPONENT : Math.getExponent(d);
        return (d < 0 ? "-" : "") + (subnormal ? "0x0." : "0x1.") + String.format("%013x", mantissa) + "p"
                + (exp >= 0 ? "+" : "") + exp;
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}
