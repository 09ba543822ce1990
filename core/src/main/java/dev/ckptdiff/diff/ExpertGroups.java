package dev.ckptdiff.diff;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Routed experts in HF names ({@code ...mlp.experts.N.down_proj.weight}): with 128 experts a layer
 * has 384 expert tensors, so reports speak of experts, not tensors.
 */
public final class ExpertGroups {
    private static final Pattern EXPERT = Pattern.compile("(.*\\.experts\\.)(\\d{1,6})(\\..+)");

    private ExpertGroups() {
    }

    /** The expert number in an HF name, or -1. */
    public static int expertOf(String name) {
        Matcher m = EXPERT.matcher(name);
        return m.matches() ? Integer.parseInt(m.group(2)) : -1;
    }

    /** The name with its expert number replaced by {@code *}: the same tensor of every expert. */
    public static String family(String name) {
        Matcher m = EXPERT.matcher(name);
        return m.matches() ? m.group(1) + "*" + m.group(3) : name;
    }

    /** Per expert, the worst verdict of its tensors; in expert order. */
    public static Map<Integer, Verdict> verdicts(List<TensorResult> results) {
        Map<Integer, Verdict> out = new TreeMap<>();
        for (TensorResult t : results) {
            int e = expertOf(t.name());
            if (e >= 0) {
                out.merge(e, t.verdict(), (x, y) -> x.ordinal() >= y.ordinal() ? x : y);
            }
        }
        return out;
    }

    /**
     * One line for the experts among {@code results}, e.g. "8 experts: 7 identical, 1 different: 5";
     * findings list their expert numbers. Empty when there are no experts.
     */
    public static String summary(List<TensorResult> results) {
        Map<Integer, Verdict> per = verdicts(results);
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
