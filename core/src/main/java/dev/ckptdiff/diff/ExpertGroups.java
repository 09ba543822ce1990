package dev.ckptdiff.diff;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Routed experts in HF names ({@code ...mlp.experts.N.down_proj.weight}): with 128 experts a layer
 * has 384 expert tensors, so reports speak of experts, not tensors.
 */
public final class ExpertGroups {
    private static final String EXPERTS = ".experts.";
    private static final int MAX_DIGITS = 6;

    private ExpertGroups() {
    }

    /** The expert number in an HF name, or -1. */
    public static int expertOf(String name) {
        int at = expertAt(name);
        return at < 0 ? -1 : Integer.parseInt(name, at, digitsEnd(name, at), 10);
    }

    /** The name with its expert number replaced by {@code *}: the same tensor of every expert. */
    public static String family(String name) {
        int at = expertAt(name);
        return at < 0 ? name : name.substring(0, at) + "*" + name.substring(digitsEnd(name, at));
    }

    /**
     * Where the expert number starts: after the last {@code .experts.} that is followed by 1 to 6 digits, a dot
     * and more text (on one line), else -1. Read by hand rather than by a regular expression: reports ask this of
     * every tensor, tens of thousands of times in a large MoE.
     */
    private static int expertAt(String name) {
        for (int at = name.lastIndexOf(EXPERTS); at >= 0; at = name.lastIndexOf(EXPERTS, at - 1)) {
            int start = at + EXPERTS.length();
            int end = digitsEnd(name, start);
            if (end > start && end - start <= MAX_DIGITS && end + 1 < name.length() && name.charAt(end) == '.'
                    && !hasLineBreak(name, 0, at) && !hasLineBreak(name, end + 1, name.length())) {
                return start;
            }
        }
        return -1;
    }

    private static int digitsEnd(String s, int from) {
        int i = from;
        while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
            i++;
        }
        return i;
    }

    /** The line terminators a regular expression's {@code .} does not match. */
    private static boolean hasLineBreak(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            // one test for the printable ASCII of every real name, the exact ones only around it
            if ((c <= '\r' || c >= '\u0085')
                    && (c == '\n' || c == '\r' || c == '\u0085' || c == '\u2028' || c == '\u2029')) {
                return true;
            }
        }
        return false;
    }

    /** Per expert, the worst verdict of its tensors; in expert order. */
    public static Map<Integer, Verdict> verdicts(List<TensorResult> results) {
        Map<Integer, Verdict> out = new TreeMap<>();
        for (TensorResult t : results) {
            int e = expertOf(t.name());
            if (e >= 0) {
                addVerdict(out, e, t.verdict());
            }
        }
        return out;
    }

    /** Keeps the worst verdict of expert {@code e}'s tensors in {@code per}. */
    public static void addVerdict(Map<Integer, Verdict> per, int e, Verdict v) {
        per.merge(e, v, (x, y) -> x.ordinal() >= y.ordinal() ? x : y);
    }

    /**
     * One line for the experts among {@code results}, e.g. "8 experts: 7 identical, 1 different: 5";
     * findings list their expert numbers. Empty when there are no experts.
     */
    public static String summary(List<TensorResult> results) {
        return summary(verdicts(results));
    }

    /** {@link #summary(List)} of verdicts already gathered per expert (in expert order). */
    public static String summary(Map<Integer, Verdict> per) {
        if (per.isEmpty()) {
            return "";
        }
        Map<Verdict, List<Integer>> by = new TreeMap<>();
        per.forEach((e, v) -> by.computeIfAbsent(v, k -> new ArrayList<>()).add(e));
        List<String> parts = new ArrayList<>();
        by.forEach((v, es) -> parts.add(es.size() + " " + v.label() + (v.isFinding() ? ": " + join(es) : "")));
        return per.size() + " experts: " + String.join(", ", parts);
    }

    private static String join(List<Integer> es) {
        List<String> s = new ArrayList<>();
        es.forEach(e -> s.add(Integer.toString(e)));
        return String.join(", ", s);
    }

    /** Results that differ, grouped by family (same layer and tensor, any expert). */
    static Map<String, List<TensorResult>> differingByFamily(List<TensorResult> results) {
        Map<String, List<TensorResult>> out = new LinkedHashMap<>();
        for (TensorResult t : results) {
            if (t.verdict() == Verdict.DIFFERENT && expertOf(t.name()) >= 0) {
                out.computeIfAbsent(family(t.name()), k -> new ArrayList<>()).add(t);
            }
        }
        return out;
    }
}
