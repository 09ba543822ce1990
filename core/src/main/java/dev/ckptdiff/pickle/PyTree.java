package dev.ckptdiff.pickle;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.io.Printable;

/**
 * Renders pickle values for people (an indented tree) and for machines (JSON). A pickle's memo can
 * make any graph: KB of pickle can reference one list billions of times. So each container is shown
 * once, where it is first met; later references point there ({@code <same as args.x[2]>}, or
 * {@code {"$ref": "args.x[2]"}} in JSON), cycles show as {@code <cycle>}, and the whole rendering
 * stops after a budget of lines (or JSON nodes). Text that came from the file is escaped.
 */
public final class PyTree {
    /** Lines (or JSON values) one rendering may produce; a real checkpoint's non-tensor content is far smaller. */
    public static final int DEFAULT_BUDGET = 100_000;
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private final int maxDepth;
    private final int maxItems;
    private final int budget;
    private final Function<Object, String> domain;

    /** {@code domain} describes domain values (tensors, storages) in one line. */
    public PyTree(int maxDepth, int maxItems, Function<Object, String> domain) {
        this(maxDepth, maxItems, DEFAULT_BUDGET, domain);
    }

    public PyTree(int maxDepth, int maxItems, int budget, Function<Object, String> domain) {
        this.maxDepth = maxDepth;
        this.maxItems = maxItems;
        this.budget = budget;
        this.domain = domain;
    }

    /** One rendering's state: where each container was first shown, and what is left of the budget. */
    private final class Walk {
        final Map<Py, String> shownAt = new IdentityHashMap<>();
        final Map<Py, Boolean> onPath = new IdentityHashMap<>();
        final Map<Py, String> leaves = new IdentityHashMap<>();
        int left = budget;
        long dropped;

        /** {@code leaf(v)}, computed once per container (a run of numbers costs its length). */
        String leaf(Py v) {
            if (!isContainer(v)) {
                return PyTree.this.leaf(v);
            }
            String l = leaves.get(v);
            if (l == null && !leaves.containsKey(v)) {
                l = PyTree.this.leaf(v);
                leaves.put(v, l);
            }
            return l;
        }
    }

    /** The first line of {@link #lines}: the value, or a container's kind and size. */
    public String line(Py v) {
        String leaf = leaf(v);
        return leaf != null ? leaf : summary(v);
    }

    public List<String> lines(Py root) {
        List<String> out = new ArrayList<>();
        Walk w = new Walk();
        lines(root, "", "", "", 0, out, w);
        if (w.dropped > 0) {
            out.add("... output stops here: " + budget + " lines shown (shared values are shown once)");
        }
        return out;
    }

    private void lines(Py v, String label, String path, String indent, int depth, List<String> out, Walk w) {
        if (w.left <= 0) {
            w.dropped++;
            return;
        }
        w.left--;
        String head = indent + label;
        String leaf = w.leaf(v);
        if (leaf != null) {
            out.add(head + leaf);
            return;
        }
        if (w.onPath.containsKey(v)) {
            out.add(head + "<cycle>");
            return;
        }
        String first = w.shownAt.get(v);
        if (first != null) {
            out.add(head + "<same as " + (first.isEmpty() ? "the root" : first) + ">");
            return;
        }
        if (depth >= maxDepth) {
            out.add(head + summary(v) + " ...");
            return;
        }
        out.add(head + summary(v));
        w.shownAt.put(v, path);
        w.onPath.put(v, true);
        String in = indent + "  ";
        List<Map.Entry<String, Py>> kids = children(v);
        int shown = 0;
        for (Map.Entry<String, Py> kid : kids) {
            if (w.left <= 0) {
                w.dropped++;
                break;
            }
            if (shown++ == maxItems) {
                out.add(in + "... " + (kids.size() - maxItems) + " more");
                w.left--;
                break;
            }
            lines(kid.getValue(), kid.getKey() + ": ", childPath(path, kid.getKey()), in, depth + 1, out, w);
        }
        w.onPath.remove(v);
    }

    private static String childPath(String path, String key) {
        return key.startsWith("[") || path.isEmpty() ? path + key : path + "." + key;
    }

    public JsonNode json(Py root) {
        Walk w = new Walk();
        JsonNode out = json(root, "", 0, w);
        if (w.dropped > 0 && out instanceof ObjectNode o) {
            o.put("$truncated", "output stops after " + budget + " values (shared values are shown once)");
        }
        return out;
    }

    private JsonNode json(Py v, String path, int depth, Walk w) {
        if (w.left <= 0) {
            w.dropped++;
            return F.textNode("...");
        }
        w.left--;
        switch (v) {
            case Py.None n -> {
                return F.nullNode();
            }
            case Py.Bool(boolean b) -> {
                return F.booleanNode(b);
            }
            case Py.Int(long x) -> {
                return F.numberNode(x);
            }
            case Py.BigInt(var x) -> { // JSON readers refuse numbers past 1,000 digits (Jackson's default): text
                return x.bitLength() <= 3000 ? F.numberNode(x) : F.textNode(x.toString());
            }
            case Py.Float(double d) -> {
                return Double.isFinite(d) ? F.numberNode(d) : F.textNode(Double.toString(d));
            }
            case Py.Str(String s) -> {
                return F.textNode(s); // JSON escapes control characters itself
            }
            default -> {
            }
        }
        String leaf = w.leaf(v);
        if (leaf != null) {
            return F.textNode(leaf);
        }
        if (w.onPath.containsKey(v)) {
            return F.textNode("<cycle>");
        }
        String first = w.shownAt.get(v);
        if (first != null) {
            return F.objectNode().put("$ref", first);
        }
        if (depth >= maxDepth) {
            return F.textNode(summary(v) + " ...");
        }
        w.shownAt.put(v, path);
        w.onPath.put(v, true);
        JsonNode out;
        List<Map.Entry<String, Py>> kids = children(v);
        if (v instanceof Py.PyList || v instanceof Py.Tuple || v instanceof Py.Set) {
            ArrayNode a = F.arrayNode();
            for (int i = 0; i < kids.size() && i < maxItems && w.left > 0; i++) {
                a.add(json(kids.get(i).getValue(), childPath(path, kids.get(i).getKey()), depth + 1, w));
            }
            if (kids.size() > a.size()) {
                a.add("... " + (kids.size() - a.size()) + " more");
            }
            out = a;
        } else {
            ObjectNode o = F.objectNode();
            if (v instanceof Py.Instance i) {
                o.put("__class__", i.type.qualified()); // JSON escapes control characters itself
            }
            for (int i = 0; i < kids.size() && i < maxItems && w.left > 0; i++) {
                o.set(kids.get(i).getKey(), json(kids.get(i).getValue(), childPath(path, kids.get(i).getKey()),
                        depth + 1, w));
            }
            if (kids.size() > maxItems) {
                o.put("...", (kids.size() - maxItems) + " more");
            }
            out = o;
        }
        w.onPath.remove(v);
        return out;
    }

    private static boolean isContainer(Py v) {
        return v instanceof Py.PyList || v instanceof Py.Tuple || v instanceof Py.Set || v instanceof Py.Dict
                || v instanceof Py.Instance;
    }

    /** A one-line rendering for scalars and domain values; null for containers. */
    private String leaf(Py v) {
        return switch (v) {
            case Py.None n -> "None";
            case Py.Bool(boolean b) -> b ? "True" : "False";
            case Py.Int(long x) -> Long.toString(x);
            case Py.BigInt(var x) -> x.toString();
            case Py.HugeInt(long bits) -> "<int of " + bits + " bits>";
            case Py.Float(double d) -> Double.toString(d);
            case Py.Str(String s) -> quote(s);
            case Py.Bytes(byte[] b) -> "bytes[" + b.length + "]";
            case Py.Global g -> Printable.escape(g.qualified());
            case Py.PersistentId p -> "persistent_id " + leafOr(p.id());
            case Py.Domain d -> domain.apply(d.value());
            case Py.Instance i when isNumpyArray(i) -> numpyArray(i);
            case Py.Instance i when i.type.module().endsWith("enums") || isEnum(i) ->
                    Printable.escape(i.type.qualified()) + "(" + (i.args.size() == 1 ? leafOr(i.args.get(0)) : "") + ")";
            case Py.Instance i when i.type.is("_io", "BytesIO") -> "io.BytesIO("
                    + (i.args.size() > 0 ? leafOr(i.args.get(0))
                    : i.state instanceof Py.Tuple t && t.size() > 0 ? leafOr(t.get(0)) : "") + ")";
            case Py.Tuple t when scalarRun(t.items()) -> "tuple" + scalars(t.items());
            case Py.PyList l when scalarRun(l.items) -> "list" + scalars(l.items);
            case Py.Tuple t when t.size() == 0 -> "()";
            case Py.PyList l when l.items.isEmpty() -> "[]";
            case Py.Dict d when d.size() == 0 && d.state == null -> "{}";
            default -> null;
        };
    }

    /** A long sequence of plain numbers, shown on one line rather than one line per number. */
    private static boolean scalarRun(java.util.List<Py> items) {
        if (items.size() <= 8) {
            return false;
        }
        for (Py p : items) {
            if (!(p instanceof Py.Int || p instanceof Py.Float || p instanceof Py.Bool)) {
                return false;
            }
        }
        return true;
    }

    private String scalars(java.util.List<Py> items) {
        StringBuilder sb = new StringBuilder("[" + items.size() + "]: ");
        for (int i = 0; i < 6; i++) {
            sb.append(leaf(items.get(i))).append(", ");
        }
        return sb.append("...").toString();
    }

    private String leafOr(Py v) {
        String l = leaf(v);
        return l != null ? l : summary(v);
    }

    private static boolean isEnum(Py.Instance i) {
        return i.state == null && i.args.size() == 1 && (i.args.get(0) instanceof Py.Int || i.args.get(0) instanceof Py.Str)
                && !i.type.name().isEmpty() && Character.isUpperCase(i.type.name().charAt(0)) && !i.type.module().startsWith("numpy");
    }

    private static boolean isNumpyArray(Py.Instance i) {
        return i.type.name().equals("_reconstruct") && i.type.module().startsWith("numpy");
    }

    /** numpy's (version, shape, dtype, fortran, data) state as {@code ndarray uint32[624]}. */
    private static String numpyArray(Py.Instance i) {
        if (i.state instanceof Py.Tuple t && t.size() >= 5 && t.get(1) instanceof Py.Tuple shape) {
            StringBuilder sb = new StringBuilder("numpy.ndarray ");
            if (t.get(2) instanceof Py.Instance dt && dt.args.size() > 0 && dt.args.get(0) instanceof Py.Str(String s)) {
                sb.append(Printable.escape(s));
            }
            sb.append('[');
            for (int k = 0; k < shape.size(); k++) {
                sb.append(k > 0 ? ", " : "").append(shape.get(k) instanceof Py.Int(long n) ? Long.toString(n) : "?");
            }
            return sb.append(']').toString();
        }
        return "numpy.ndarray";
    }

    private static String quote(String s) {
        String t = s.length() > 120 ? s.substring(0, 117) + "..." : s;
        return "'" + Printable.escape(t) + "'";
    }

    private static String summary(Py v) {
        return switch (v) {
            case Py.PyList l -> "list[" + l.items.size() + "]";
            case Py.Tuple t -> "tuple[" + t.size() + "]";
            case Py.Set s -> (s.frozen ? "frozenset[" : "set[") + s.items.size() + "]";
            case Py.Dict d -> "dict[" + d.size() + "]";
            case Py.Instance i -> Printable.escape(i.type.qualified());
            default -> Printable.escape(Unpickler.kind(v));
        };
    }

    private static List<Map.Entry<String, Py>> children(Py v) {
        List<Map.Entry<String, Py>> out = new ArrayList<>();
        switch (v) {
            case Py.PyList l -> index(l.items, out);
            case Py.Tuple t -> index(t.items(), out);
            case Py.Set s -> index(s.items, out);
            case Py.Dict d -> {
                for (int i = 0; i < d.size(); i++) {
                    Py k = d.keys.get(i);
                    out.add(Map.entry(Printable.escape(k instanceof Py.Str(String s) ? s
                            : k instanceof Py.Int(long n) ? Long.toString(n) : PyValues.brief(k)), d.values.get(i)));
                }
                if (d.state != null) {
                    out.add(Map.entry("__state__", d.state));
                }
            }
            case Py.Instance i -> {
                Py.Dict attrs = PyValues.attributes(i);
                if (attrs != null && i.args.size() == 0) {
                    out.addAll(children(attrs));
                } else {
                    if (i.args.size() > 0) {
                        out.add(Map.entry("args", i.args));
                    }
                    if (i.state != null) {
                        out.add(Map.entry("state", i.state));
                    }
                }
            }
            default -> {
            }
        }
        return out;
    }

    private static void index(List<Py> items, List<Map.Entry<String, Py>> out) {
        for (int i = 0; i < items.size(); i++) {
            out.add(Map.entry("[" + i + "]", items.get(i)));
        }
    }
}
