package dev.ckptdiff.mapping;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A table's rules by skeleton: the pattern with every number (and every {@code {L}} / {@code {E}})
 * written as {@code #}. A key can only match a rule of its own skeleton, so a key costs one pass
 * and one hash look-up instead of a try against every rule (a large MoE has tens of thousands of
 * keys a side and a table some thirty rules). Each candidate is then matched as its literal parts
 * and numbers.
 */
final class RuleIndex {
    /** Longest layer or expert number a key may carry. */
    static final int MAX_DIGITS = 6;
    private final Map<String, List<Pattern>> bySkeleton = new HashMap<>();

    /** A rule's pattern cut at its placeholders: literals[i] comes before the i-th placeholder. */
    record Pattern(Rule rule, String[] literals, boolean[] layer) {
        static Pattern of(Rule r) {
            String p = r.megatron();
            List<String> literals = new ArrayList<>();
            List<Boolean> layer = new ArrayList<>();
            int from = 0;
            for (int at = p.indexOf('{'); at >= 0; at = p.indexOf('{', at + 1)) {
                boolean isLayer = p.startsWith(Rule.LAYER, at);
                if (!isLayer && !p.startsWith(Rule.EXPERT, at)) {
                    continue;
                }
                // A number next to a placeholder would merge with it, in the skeleton and in the match.
                if ((at > 0 && Character.isDigit(p.charAt(at - 1)))
                        || (at + 3 < p.length() && Character.isDigit(p.charAt(at + 3)))) {
                    throw new IllegalArgumentException(p + ": a number touches a placeholder");
                }
                literals.add(p.substring(from, at));
                layer.add(isLayer);
                from = at + 3;
                at += 2;
            }
            literals.add(p.substring(from));
            boolean[] l = new boolean[layer.size()];
            for (int i = 0; i < l.length; i++) {
                l[i] = layer.get(i);
            }
            return new Pattern(r, literals.toArray(String[]::new), l);
        }

        /** Numbers of 1 to {@link #MAX_DIGITS} digits where the placeholders stand, the rest literally. */
        Rule.Indices match(String key) {
            int layerNumber = 0;
            int expert = -1;
            int k = 0;
            for (int i = 0; ; i++) {
                String lit = literals[i];
                if (!key.startsWith(lit, k)) {
                    return null;
                }
                k += lit.length();
                if (i == layer.length) {
                    return k == key.length() ? new Rule.Indices(layerNumber, expert) : null;
                }
                int n = 0;
                int digits = 0;
                while (k < key.length() && digits < MAX_DIGITS && Character.isDigit(key.charAt(k))) {
                    n = n * 10 + (key.charAt(k++) - '0');
                    digits++;
                }
                if (digits == 0) {
                    return null;
                }
                if (layer[i]) {
                    layerNumber = n;
                } else {
                    expert = n;
                }
            }
        }
    }

    RuleIndex(List<Rule> rules) {
        for (Rule r : rules) {
            Pattern p = Pattern.of(r);
            String skeleton = skeleton(r.megatron().replace(Rule.LAYER, "0").replace(Rule.EXPERT, "0"));
            bySkeleton.computeIfAbsent(skeleton, k -> new ArrayList<>()).add(p);
        }
    }

    /** The patterns that may match {@code key}, in table order (those of other skeletons cannot). */
    List<Pattern> candidates(String key) {
        return bySkeleton.getOrDefault(skeleton(key), List.of());
    }

    /** Every run of digits (as {@link Pattern#match} reads digits) replaced by one {@code #}. */
    static String skeleton(String s) {
        StringBuilder b = null;
        int copied = 0;
        int i = 0;
        int n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            if (!isDigit(c)) {
                i++;
                continue;
            }
            if (b == null) {
                b = new StringBuilder(n);
            }
            b.append(s, copied, i).append('#');
            while (i < n && isDigit(s.charAt(i))) {
                i++;
            }
            copied = i;
        }
        return b == null ? s : b.append(s, copied, n).toString();
    }

    /** {@link Character#isDigit}, with ASCII decided without its table look-up. */
    private static boolean isDigit(char c) {
        return c < 0x80 ? c >= '0' && c <= '9' : Character.isDigit(c);
    }
}
