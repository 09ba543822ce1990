package dev.ckptdiff.pickle;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What a pickle holds, as inert values: nothing is imported, nothing is called. A class or
 * function the interpreter does not know becomes an {@link Instance} that names it and keeps its
 * arguments and state; what a domain (torch) knows becomes a {@link Domain} value it made.
 * Containers are mutable only because pickles fill them after creating them (APPENDS, SETITEMS).
 */
public sealed interface Py {

    /** Nesting depth, kept as values are built so that hostile nesting is refused early. */
    default int depth() {
        return 0;
    }

    record None() implements Py {
        public static final None INSTANCE = new None();
    }

    record Bool(boolean value) implements Py {
    }

    record Int(long value) implements Py {
    }

    record BigInt(BigInteger value) implements Py {
    }

    /**
     * An integer too long to be a setting or a count (over {@link Unpickler#MAX_INT_BYTES} bytes): kept
     * by size only, since building and printing it would cost time quadratic in its length.
     */
    record HugeInt(long bits) implements Py {
    }

    record Float(double value) implements Py {
    }

    record Str(String value) implements Py {
    }

    record Bytes(byte[] value) implements Py {
    }

    /** A {@code module.name} reference. Inert: it is never resolved to anything that runs. */
    record Global(String module, String name) implements Py {
        public String qualified() {
            return module + "." + name;
        }

        public boolean is(String m, String n) {
            return module.equals(m) && name.equals(n);
        }
    }

    record PersistentId(Py id) implements Py {
    }

    record Tuple(List<Py> items, int depth) implements Py {
        public static Tuple of(List<Py> items) {
            return new Tuple(List.copyOf(items), 1 + maxDepth(items));
        }

        public Py get(int i) {
            return items.get(i);
        }

        public int size() {
            return items.size();
        }
    }

    /** Something a domain interpreter made of a reduction (a tensor, a dtype, ...). */
    record Domain(Object value) implements Py {
    }

    final class PyList implements Py {
        public final List<Py> items = new ArrayList<>();
        int depth = 1;

        @Override
        public int depth() {
            return depth;
        }
    }

    final class Set implements Py {
        public final List<Py> items = new ArrayList<>();
        public final boolean frozen;
        int depth = 1;

        public Set(boolean frozen) {
            this.frozen = frozen;
        }

        @Override
        public int depth() {
            return depth;
        }
    }

    /**
     * A dict as ordered pairs (keys need not be hashable strings); {@code state} from BUILD, if any.
     * Filled as Python fills one: setting a key that is already there keeps its place and takes the new
     * value (what {@code torch.load} sees), and the key is remembered in {@link #duplicateKeys()}.
     */
    final class Dict implements Py {
        public final List<Py> keys = new ArrayList<>();
        public final List<Py> values = new ArrayList<>();
        public Py state;
        int depth = 1;
        private final Map<Object, Integer> index = new HashMap<>();
        private List<Py> duplicates = List.of();

        @Override
        public int depth() {
            return depth;
        }

        public int size() {
            return keys.size();
        }

        /** Sets {@code key} as {@code d[key] = value} does; true when the key was already there. */
        public boolean put(Py key, Py value) {
            Integer at = index.putIfAbsent(DictKey.of(key), keys.size());
            if (at != null) {
                values.set(at, value);
                if (duplicates.isEmpty()) {
                    duplicates = new ArrayList<>();
                }
                duplicates.add(key);
                return true;
            }
            keys.add(key);
            values.add(value);
            return false;
        }

        /** The value under a string key, or null. */
        public Py get(String key) {
            Integer at = index.get(key);
            return at == null ? null : values.get(at);
        }

        /** Keys the pickle set more than once, in the order of the repeats; the last value is kept. */
        public List<Py> duplicateKeys() {
            return Collections.unmodifiableList(duplicates);
        }
    }

    /** An object of a class the interpreter does not interpret: its class, arguments and state. */
    final class Instance implements Py {
        public final Global type;
        public final Tuple args;
        public Py state;
        int depth;

        public Instance(Global type, Tuple args) {
            this.type = type;
            this.args = args;
            this.depth = args.depth() + 1;
        }

        @Override
        public int depth() {
            return depth;
        }
    }

    static int maxDepth(List<Py> items) {
        int d = 0;
        for (Py p : items) {
            d = Math.max(d, p.depth());
        }
        return d;
    }
}
