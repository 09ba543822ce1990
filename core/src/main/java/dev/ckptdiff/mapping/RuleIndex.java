package dev.ckptdiff.mapping;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A table's rules by skeleton: the pattern with every number (and every {@code {L}} / {@code {E}})
 * written as {@code #}. A key can only match a rule of its own skeleton, so a key costs one pass
 * and one hash look-up instead of a try against every rule (a large MoE has tens of thousands of
 * keys a side and a table some thirty rules).
 */
final class RuleIndex {
    private final Map<String, List<Rule>> bySkeleton = new HashMap<>();

    RuleIndex(List<Rule> rules) {
        for (Rule r : rules) {
            String p = r.megatron();
            int at = p.indexOf('{');
            while (at >= 0) {
                boolean placeholder = p.startsWith(Rule.LAYER, at) || p.startsWith(Rule.EXPERT, at);
                // A number next to a placeholder would merge with it in the skeleton (and in Rule.match).
                if (placeholder && ((at > 0 && Character.isDigit(p.charAt(at - 1)))
                        || (at + 3 < p.length() && Character.isDigit(p.charAt(at + 3))))) {
                    throw new IllegalArgumentException(p + ": a number touches a placeholder");
                }
                at = p.indexOf('{', at + 1);
            }
            String skeleton = skeleton(p.replace(Rule.LAYER, "0").replace(Rule.EXPERT, "0"));
            bySkeleton.computeIfAbsent(skeleton, k -> new ArrayList<>()).add(r);
        }
    }

    /** The rules that may match {@code key}, in table order (those of other skeletons cannot). */
    List<Rule> candidates(String key) {
        return bySkeleton.getOrDefault(skeleton(key), List.of());
    }

    /** Every run of digits (as {@link Rule#match} reads digits) replaced by one {@code #}. */
    static String skeleton(String s) {
        StringBuilder b = null;
        int i = 0;
        while (i < s.length()) {
            if (!Character.isDigit(s.charAt(i))) {
                if (b != null) {
                    b.append(s.charAt(i));
                }
                i++;
                continue;
            }
            if (b == null) {
                b = new StringBuilder(s.length()).append(s, 0, i);
            }
            b.append('#');
            while (i < s.length() && Character.isDigit(s.charAt(i))) {
                i++;
            }
        }
        return b == null ? s : b.toString();
    }
}
