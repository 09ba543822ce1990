package dev.ckptdiff.pickle;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
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

    /** A short description for error messages: scalars by value (shortened), anything else by kind and size. */
    public static String brief(Py v) {
        String s = switch (v) {
            case Py.Str(String x) -> "'" + x + "'";
            case Py.Int(long x) -> Long.toString(x);
            case Py.Float(double x) -> Double.toString(x);
            case Py.Bool(boolean b) -> b ? "True" : "False";
            case Py.Global g -> g.qualified();
            case Py.Tuple t -> "a tuple of " + t.size();
            case Py.PyList l -> "a list of " + l.items.size();
            case Py.Dict d -> "a dict of " + d.size();
            default -> "a " + Unpickler.kind(v);
        };
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    /**
     * Where the pickle set a dict key twice, as {@code path -> key} lines ({@code model -> 'decoder.w'}):
     * Python, and so {@code torch.load}, keeps the last value. Each container is visited once, however
     * often the memo shares it, and the walk stops after {@code limit} findings.
     */
    public static List<String> duplicateKeys(Py root, int limit) {
        List<String> out = new ArrayList<>();
        Deque<Step> queue = new ArrayDeque<>();
        Map<Py, Boolean> seen = new IdentityHashMap<>();
        queue.add(new Step(null, null, root));
        while (!queue.isEmpty() && out.size() < limit) {
            Step it = queue.poll();
            if (seen.put(it.value(), true) != null) {
                continue;
            }
            switch (it.value()) {
                case Py.Dict d -> {
                    for (Py k : d.duplicateKeys()) {
                        String path = it.path();
                        out.add((path.isEmpty() ? "top level" : path) + " -> " + brief(k));
                    }
                    for (int i = 0; i < d.size(); i++) {
                        queue.add(new Step(it, d.keys.get(i), d.values.get(i)));
                    }
                    if (d.state != null) {
                        queue.add(new Step(it, new Py.Str("__state__"), d.state));
                    }
                }
                case Py.PyList l -> l.items.forEach(p -> queue.add(new Step(it, Step.ITEM, p)));
                case Py.Tuple t -> t.items().forEach(p -> queue.add(new Step(it, Step.ITEM, p)));
                case Py.Set st -> st.items.forEach(p -> queue.add(new Step(it, Step.ITEM, p)));
                case Py.Instance i -> {
                    queue.add(new Step(it.parent(), it.key(), i.args));
                    if (i.state != null) {
                        queue.add(new Step(it.parent(), it.key(), i.state));
                    }
                }
                default -> {
                }
            }
        }
        return out.size() > limit ? out.subList(0, limit) : out;
    }

    /** A place in a walk; its dotted path is spelled out only when a finding needs it. */
    private record Step(Step parent, Py key, Py value) {
        static final Py ITEM = new Py.Str("[]");

        String path() {
            if (parent == null) {
                return "";
            }
            String up = parent.path();
            return key == ITEM ? up + "[]" : up.isEmpty() ? keyName(key) : up + "." + keyName(key);
        }
    }

    /** A dict key as a path component: strings and integers as themselves, anything else described. */
    public static String keyName(Py k) {
        return switch (k) {
            case Py.Str(String s) -> s;
            case Py.Int(long n) -> Long.toString(n);
            default -> brief(k);
        };
    }
}
