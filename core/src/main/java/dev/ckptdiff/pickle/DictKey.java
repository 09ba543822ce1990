package dev.ckptdiff.pickle;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A dict key as Python compares it, so that a key set twice is found again: {@code 1}, {@code 1.0}
 * and {@code True} are one key, strings compare by text, tuples by their items. Values Python hashes
 * by identity (objects, and anything this reader does not interpret) stay distinct.
 */
final class DictKey {
    /** Tuple keys bigger than this (counted as a tree) are compared by identity, so a DAG cannot cost 2^n. */
    private static final int MAX_TUPLE_NODES = 10_000;
    private static final Object NONE = new Object();

    private DictKey() {
    }

    static Object of(Py k) {
        if (k instanceof Py.Tuple t && !fits(t, new int[]{MAX_TUPLE_NODES})) {
            return new Identity(k);
        }
        return normalized(k);
    }

    private static Object normalized(Py k) {
        return switch (k) {
            case Py.Str(String s) -> s;
            case Py.Int(long x) -> x;
            case Py.Bool(boolean b) -> b ? 1L : 0L;
            case Py.BigInt(BigInteger x) -> x;
            case Py.Float(double d) -> number(d, k);
            case Py.Bytes(byte[] b) -> ByteBuffer.wrap(b);
            case Py.None n -> NONE;
            case Py.Global g -> new GlobalKey(g.module(), g.name());
            case Py.Tuple t -> {
                List<Object> items = new ArrayList<>(t.size());
                for (Py p : t.items()) {
                    items.add(normalized(p));
                }
                yield new TupleKey(items);
            }
            default -> new Identity(k);
        };
    }

    private static Object number(double d, Py k) {
        if (Double.isNaN(d)) {
            return new Identity(k); // NaN != NaN: only the very same object is found again
        }
        if (d == Math.rint(d) && !Double.isInfinite(d)) {
            if (Math.abs(d) < 0x1p63) {
                return (long) d;
            }
            return new BigDecimal(d).toBigIntegerExact();
        }
        return d;
    }

    /** Whether the tuple, expanded as a tree, has at most {@code budget[0]} nodes. */
    private static boolean fits(Py v, int[] budget) {
        if (--budget[0] < 0) {
            return false;
        }
        if (v instanceof Py.Tuple t) {
            for (Py p : t.items()) {
                if (!fits(p, budget)) {
                    return false;
                }
            }
        }
        return true;
    }

    private record GlobalKey(String module, String name) {
    }

    private record TupleKey(List<Object> items) {
    }

    private record Identity(Py value) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Identity i && i.value == value;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(value);
        }
    }
}
