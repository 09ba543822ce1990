package dev.ckptdiff.mapping;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One row of a mapping table: a Megatron key pattern, how it splits, and the HF key patterns it
 * becomes ({@code {L}} stands for the global layer number). QKV rules name three HF keys (q, k, v),
 * GATE_UP rules two (gate, up), every other rule one.
 */
public record Rule(String megatron, Split split, List<String> hf) {
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

    Pattern pattern() {
        return Pattern.compile(Pattern.quote(megatron).replace("{L}", "\\E(\\d+)\\Q"));
    }

    /** The layer number if {@code key} matches (0 for non-layer rules), else -1. */
    int match(String key) {
        Matcher m = pattern().matcher(key);
        if (!m.matches()) {
            return -1;
        }
        return m.groupCount() > 0 ? Integer.parseInt(m.group(1)) : 0;
    }

    List<String> hfNames(int layer) {
        return hf.stream().map(h -> h.replace("{L}", Integer.toString(layer))).toList();
    }

    /** The sub-tensor names, for reports: q/k/v or gate/up. */
    public List<String> parts() {
        return switch (split) {
            case QKV -> List.of("q", "k", "v");
            case GATE_UP -> List.of("gate", "up");
            default -> List.of("");
        };
    }
}
