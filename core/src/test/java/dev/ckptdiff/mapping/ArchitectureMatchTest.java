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
}
