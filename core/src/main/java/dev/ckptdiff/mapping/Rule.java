package dev.ckptdiff.mapping;

import java.util.List;

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

    /** The layer number if {@code key} matches (0 for non-layer rules), else -1. */
    int match(String key) {
        int at = megatron.indexOf("{L}");
        if (at < 0) {
            return key.equals(megatron) ? 0 : -1;
        }
        String prefix = megatron.substring(0, at);
        String suffix = megatron.substring(at + 3);
        int end = key.length() - suffix.length();
        if (end <= prefix.length() || !key.startsWith(prefix) || !key.endsWith(suffix) || end - prefix.length() > 6) {
            return -1;
        }
        int layer = 0;
        for (int i = prefix.length(); i < end; i++) {
            char c = key.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            layer = layer * 10 + (c - '0');
        }
        return layer;
    }

    List<String> hfNames(int layer) {
        return hf.stream().map(h -> h.replace("{L}", Integer.toString(layer))).toList();
    }
}
