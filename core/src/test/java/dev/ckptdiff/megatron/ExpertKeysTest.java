package dev.ckptdiff.megatron;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Architectures;

class ExpertKeysTest {
    @Test
    void bothExpertFormsCarryTheirNumber() {
        assertEquals(3, ExpertKeys.expertOf("decoder.layers.1.mlp.experts.local_experts.3.linear_fc1.weight"));
        assertEquals(12, ExpertKeys.expertOf("decoder.layers.1.mlp.experts.linear_fc2.weight12"));
        assertEquals(-1, ExpertKeys.expertOf("decoder.layers.1.mlp.experts.linear_fc1._extra_state"));
        assertEquals(-1, ExpertKeys.expertOf("decoder.layers.1.mlp.shared_experts.linear_fc1.weight"));
        assertEquals(-1, ExpertKeys.expertOf("decoder.layers.1.mlp.router.weight"));
        assertTrue(ExpertKeys.grouped("decoder.layers.1.mlp.experts.linear_fc2.weight12"));
        assertFalse(ExpertKeys.grouped("decoder.layers.1.mlp.experts.local_experts.3.linear_fc1.weight"));
        assertEquals("decoder.layers.1.mlp.experts.linear_fc2.weight7",
                ExpertKeys.withExpert("decoder.layers.1.mlp.experts.linear_fc2.weight3", 7));
    }

    @Test
    void theQwen3MoeTableMapsGlobalExpertKeys() {
        Architecture a = Architectures.QWEN3_MOE;
        Architecture.Match m = a.match("decoder.layers.47.mlp.experts.linear_fc1.weight127").orElseThrow();
        assertEquals(47, m.layer());
        assertEquals(127, m.expert());
        assertEquals(List.of("model.layers.47.mlp.experts.127.gate_proj.weight",
                "model.layers.47.mlp.experts.127.up_proj.weight"), m.hfNames());
        assertEquals(List.of("model.layers.2.mlp.experts.6.down_proj.weight"),
                a.match("decoder.layers.2.mlp.experts.local_experts.6.linear_fc2.weight").orElseThrow().hfNames());
        Architecture.Match r = a.match("decoder.layers.2.mlp.router.weight").orElseThrow();
        assertEquals(-1, r.expert());
        assertEquals(List.of("model.layers.2.mlp.gate.weight"), r.hfNames());
        assertTrue(a.match("decoder.layers.2.mlp.experts.linear_fc1.weightX").isEmpty());
        assertEquals(List.of("model.layers.0.mlp.down_proj.weight"),
                a.match("decoder.layers.0.mlp.linear_fc2.weight").orElseThrow().hfNames(), "dense layers");
    }
}
