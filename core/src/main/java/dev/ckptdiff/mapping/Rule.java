package dev.ckptdiff.mapping;

import java.util.List;

/**
 * One row of a mapping table: a Megatron key pattern, how it splits, and the HF key patterns it
 * becomes. {@code {L}} stands for the global layer number and {@code {E}} for the global expert
 * number (Megatron keys reach the table with both already made global). QKV rules name three HF
 * keys (q, k, v), GATE_UP rules two (gate, up), every other rule one.
 */
public record Rule(String megatron, Split split, List<String> hf) {
    static final String LAYER = "{L}";
    static final String EXPERT = "{E}";

    public Rule {
        int expected = switch (split) {
            case QKV -> 3;
            case GATE_UP -> 2;
            default -> 1;
        };
        if (hf.size() != expected) {
            throw new IllegalArgumentException(megatron + ": " + split + " maps to " + expected + " HF keys");
        }
    }

    public static Rule of(String megatron, Split split, String... hf) {
        return new Rule(megatron, split, List.of(hf));
    }

    /** True for a rule of one routed expert (its key carries an expert number). */
    public boolean perExpert() {
        return megatron.contains(EXPERT);
    }

    /** The numbers a matching key carries: layer 0 for non-layer rules, expert -1 for non-expert rules. */
    public record Indices(int layer, int expert) {
    }

    List<String> hfNames(Indices at) {
        String layer = Integer.toString(at.layer());
        String expert = Integer.toString(at.expert());
        return switch (hf.size()) {
            case 1 -> List.of(fill(hf.get(0), layer, expert));
            case 2 -> List.of(fill(hf.get(0), layer, expert), fill(hf.get(1), layer, expert));
            default -> hf.stream().map(h -> fill(h, layer, expert)).toList();
        };
    }

    /** The pattern with {@code {L}} and {@code {E}} filled in, in one pass (every Megatron key's names come here). */
    private static String fill(String pattern, String layer, String expert) {
        int at = pattern.indexOf('{');
        if (at < 0) {
            return pattern;
        }
        StringBuilder b = new StringBuilder(pattern.length() + 8);
        int from = 0;
        for (; at >= 0; at = pattern.indexOf('{', at + 1)) {
            boolean isLayer = pattern.startsWith(LAYER, at);
            if (isLayer || pattern.startsWith(EXPERT, at)) {
                b.append(pattern, from, at).append(isLayer ? layer : expert);
                from = at + 3;
            }
        }
        return b.append(pattern, from, pattern.length()).toString();
    }
}
