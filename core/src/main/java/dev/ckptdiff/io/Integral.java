package dev.ckptdiff.io;

import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * The integral value of one setting read from a file (a config.json key, a Megatron args field).
 * Readers used to narrow whatever number they found: 64.5 became 64 and 2^32+2 became 2, so a
 * checkpoint was described with sizes its file never stated. Here a value is either a whole number
 * within the range the caller can use, or an error naming the file and the key.
 */
public final class Integral {
    private Integral() {
    }

    /**
     * @param value a Number (Integer, Long, BigInteger, Double, BigDecimal...), as parsers return them
     * @param where the file (or file and section) the key was read from
     */
    public static long of(Object value, String where, String key, long min, long max) {
        BigInteger v = switch (value) {
            case Integer i -> BigInteger.valueOf(i);
            case Long l -> BigInteger.valueOf(l);
            case Short s -> BigInteger.valueOf(s);
            case Byte b -> BigInteger.valueOf(b);
            case BigInteger b -> b;
            case null -> throw new BadInputException(where + ": " + key + " is missing or null, expected a whole number");
            case Boolean b -> throw new BadInputException(where + ": " + key + " is " + b + ", expected a whole number");
            case Double d -> throw notWhole(where, key, d.toString(), d);
            case Float f -> throw notWhole(where, key, f.toString(), f);
            case BigDecimal d -> throw notWhole(where, key, d.toString(), d);
            case Number n -> throw notWhole(where, key, n.toString(), n);
            default -> throw new BadInputException(where + ": " + key + " is '" + value
                    + "' (" + value.getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT)
                    + "), expected a whole number");
        };
        if (v.compareTo(BigInteger.valueOf(min)) < 0 || v.compareTo(BigInteger.valueOf(max)) > 0) {
            throw new BadInputException(where + ": " + key + " is " + shortly(v) + ", outside " + min + ".." + max);
        }
        return v.longValueExact();
    }

    private static BadInputException notWhole(String where, String key, String shown, Number n) {
        // Written as a float even when whole (64.0): torch refuses float sizes, so transformers would not load it.
        return new BadInputException(where + ": " + key + " is " + shown + ", expected a whole number written"
                + " without a fraction or exponent");
    }

    private static String shortly(BigInteger v) {
        // toString is quadratic in the digits: a hostile value is described by its size.
        return v.bitLength() <= 128 ? v.toString() : "a number of about " + (int) (v.bitLength() * 0.30103) + " digits";
    }
}
