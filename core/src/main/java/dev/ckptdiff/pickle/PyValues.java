package dev.ckptdiff.pickle;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;

/** Reading plain facts out of inert pickle values: attributes of objects, numbers, strings. */
public final class PyValues {
    private PyValues() {
    }

    /**
     * The attributes of an object as a dict: an argparse Namespace's state, an OmegaConf DictConfig's
     * {@code _content}, or a dict itself. Null when the value has no attributes.
     */
    public static Py.Dict attributes(Py v) {
        return switch (v) {
            case Py.Dict d when d.get("_content") instanceof Py.Dict content -> content;
            case Py.Dict d -> d;
            case Py.Instance i when i.state instanceof Py.Dict s && s.get("_content") instanceof Py.Dict c -> c;
            case Py.Instance i when i.state instanceof Py.Dict s -> s;
            case Py.Instance i when i.state instanceof Py.Tuple t && t.size() == 2
                    && t.get(1) instanceof Py.Dict slots -> slots; // (dict, slots) state
            default -> null;
        };
    }

    /** An OmegaConf value node ({@code AnyNode}, {@code IntegerNode}, ...) unwrapped to its value. */
    public static Py unwrap(Py v) {
        if (v instanceof Py.Instance i && i.type.module().startsWith("omegaconf")
                && i.state instanceof Py.Dict s && s.get("_val") != null) {
            return s.get("_val");
        }
        return v;
    }

    /**
     * Finds an attribute by name: first among the top-level attributes, then breadth-first in nested
     * configs (RLinf keeps Megatron's settings under sub-keys). Cycles and depth are bounded.
     */
    public static Optional<Py> find(Py root, String name) {
        Deque<Py> queue = new ArrayDeque<>();
        Map<Py, Boolean> seen = new IdentityHashMap<>();
        queue.add(root);
        int visited = 0;
        while (!queue.isEmpty() && visited++ < 10_000) {
            Py.Dict attrs = attributes(unwrap(queue.poll()));
            if (attrs == null || seen.put(attrs, true) != null) {
                continue;
            }
            Py hit = attrs.get(name);
            if (hit != null) {
                return Optional.of(unwrap(hit));
            }
            for (Py child : attrs.values) {
                Py u = unwrap(child);
                if (u instanceof Py.Dict || u instanceof Py.Instance) {
                    queue.add(u);
                }
            }
        }
        return Optional.empty();
    }

    public static Optional<Long> asLong(Py v) {
        return switch (unwrap(v)) {
            case Py.Int(long x) -> Optional.of(x);
            case Py.Bool(boolean b) -> Optional.of(b ? 1L : 0L);
            case Py.Float(double d) when d == Math.rint(d) -> Optional.of((long) d);
            default -> Optional.empty();
        };
    }

    public static Optional<Boolean> asBool(Py v) {
        return switch (unwrap(v)) {
            case Py.Bool(boolean b) -> Optional.of(b);
            case Py.Int(long x) -> Optional.of(x != 0);
            default -> Optional.empty();
        };
    }

    public static Optional<String> asString(Py v) {
        return switch (unwrap(v)) {
            case Py.Str(String s) -> Optional.of(s);
            case Py.Global g -> Optional.of(g.qualified());
            default -> Optional.empty();
        };
    }
}
