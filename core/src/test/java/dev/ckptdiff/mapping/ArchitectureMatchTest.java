package dev.ckptdiff.mapping;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** Which rule a Megatron key takes, with what numbers and HF names: the first matching row of the table wins. */
class ArchitectureMatchTest {
    private static Architecture.Match match(String key) {
        return Architectures.QWEN3_MOE.match(key).orElseThrow(() -> new AssertionError("no rule for " + key));
    }

    @Test
    void sequentialExpertKeyGivesLayerExpertAndBothHfNames() {
        Architecture.Match m = match("decoder.layers.47.mlp.experts.local_experts.127.linear_fc1.weight");
        assertEquals(Split.GATE_UP, m.rule().split());
        assertEquals(47, m.layer());
        assertEquals(127, m.expert());
        assertEquals(List.of("model.layers.47.mlp.experts.127.gate_proj.weight",
                "model.layers.47.mlp.experts.127.up_proj.weight"), m.hfNames());
    }

    @Test
    void groupedExpertKeyEndsWithTheExpertNumber() {
        Architecture.Match m = match("decoder.layers.3.mlp.experts.linear_fc2.weight12");
        assertEquals(Split.ROW, m.rule().split());
        assertEquals(3, m.layer());
        assertEquals(12, m.expert());
        assertEquals(List.of("model.layers.3.mlp.experts.12.down_proj.weight"), m.hfNames());
    }

    @Test
    void denseAndNonLayerKeysKeepTheirRows() {
        Architecture.Match qkv = match("decoder.layers.10.self_attention.linear_qkv.weight");
        assertEquals(Split.QKV, qkv.rule().split());
        assertEquals(-1, qkv.expert());
        assertEquals(List.of("model.layers.10.self_attn.q_proj.weight", "model.layers.10.self_attn.k_proj.weight",
                "model.layers.10.self_attn.v_proj.weight"), qkv.hfNames());
        // Two rows share every character but the last few: the tail decides.
        assertEquals(List.of("model.layers.2.mlp.gate.weight"), match("decoder.layers.2.mlp.router.weight").hfNames());
        assertEquals(List.of("model.layers.2.mlp.gate.e_score_correction_bias"),
                match("decoder.layers.2.mlp.router.expert_bias").hfNames());
        Architecture.Match head = match("output_layer.weight");
        assertEquals(0, head.layer());
        assertEquals(List.of("lm_head.weight"), head.hfNames());
    }

    @Test
    void keysThatOnlyStartOrEndLikeARowMatchNone() {
        for (String key : List.of("decoder.layers.1.mlp.linear_fc1.weight_extra", "decoder.layers.1.mlp.linear_fc1._extra_state",
                "decoder.layers.1.mlp.experts.linear_fc1._extra_state", "decoder.layers.1.mlp.experts.linear_fc1.weight",
                "decoder.layers.x.mlp.linear_fc2.weight", "xdecoder.layers.1.mlp.linear_fc2.weight", "weight", "")) {
            assertTrue(Architectures.QWEN3_MOE.match(key).isEmpty(), key);
        }
    }

    /** The skeleton index must pick exactly the row a try of every row in table order picks. */
    @Test
    void theIndexAgreesWithTryingEveryRowInOrder() {
        java.util.Random rnd = new java.util.Random(3);
        String[] numbers = {"0", "7", "12", "127", "999999", "1234567", "\u0663", "01"};
        for (Architecture arch : Architectures.ALL) {
            for (Rule r : arch.rules()) {
                for (int i = 0; i < 20; i++) {
                    String key = r.megatron();
                    while (key.contains("{")) {
                        int at = key.indexOf('{');
                        key = key.substring(0, at) + numbers[rnd.nextInt(numbers.length)] + key.substring(at + 3);
                    }
                    if (i % 4 == 3) { // and near misses: a character more or less somewhere
                        int at = rnd.nextInt(key.length());
                        key = rnd.nextBoolean() ? key.substring(0, at) + key.substring(at + 1)
                                : key.substring(0, at) + (char) ('0' + rnd.nextInt(10)) + key.substring(at);
                    }
                    Architecture.Match expected = null;
                    for (Rule each : arch.rules()) {
                        Rule.Indices at = referenceMatch(each.megatron(), key);
                        if (at != null) {
                            expected = new Architecture.Match(each, at.layer(), at.expert(), each.hfNames(at));
                            break;
                        }
                    }
                    assertEquals(java.util.Optional.ofNullable(expected), arch.match(key), arch.name() + ": " + key);
                }
            }
        }
    }

    /** The plain reading of a row: the pattern character by character, 1 to 6 digits for {L} and {E}. */
    private static Rule.Indices referenceMatch(String pattern, String key) {
        int layer = 0;
        int expert = -1;
        int k = 0;
        int p = 0;
        while (p < pattern.length()) {
            boolean isLayer = pattern.startsWith("{L}", p);
            if (isLayer || pattern.startsWith("{E}", p)) {
                int n = 0;
                int digits = 0;
                while (k < key.length() && digits < 6 && Character.isDigit(key.charAt(k))) {
                    n = n * 10 + (key.charAt(k++) - '0');
                    digits++;
                }
                if (digits == 0) {
                    return null;
                }
                if (isLayer) {
                    layer = n;
                } else {
                    expert = n;
                }
                p += 3;
            } else {
                if (k >= key.length() || key.charAt(k) != pattern.charAt(p)) {
                    return null;
                }
                k++;
                p++;
            }
        }
        return k == key.length() ? new Rule.Indices(layer, expert) : null;
    }

    @Test
    void aNumberTouchingAPlaceholderIsRefusedWhenTheTableIsBuilt() {
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new Architecture("x",
                List.of(), List.of(), List.of(Rule.of("decoder.layers.{L}1.w", Split.REPLICATED, "w"))));
    }
}
