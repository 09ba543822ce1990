package dev.ckptdiff.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TensorKindsTest {
    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
            "model.layers.1.mlp.down_proj.weight; layer 1; down",
            "model.layers.12.self_attn.q_proj.bias; layer 12; q",
            "model.layers.0.self_attn.k_norm.weight; layer 0; norms",
            "model.layers.3.post_attention_layernorm.weight; layer 3; norms",
            "model.layers.5.mlp.gate.weight; layer 5; router",
            "model.layers.5.mlp.experts.17.gate_proj.weight; layer 5; experts",
            "model.layers.5.mlp.shared_expert.up_proj.weight; layer 5; experts",
            "model.layers.5.mlp.shared_expert_gate.weight; layer 5; router",
            "model.embed_tokens.weight; global; embed",
            "model.norm.weight; global; norms",
            "lm_head.weight; global; lm_head",
            "lm_head.weight (A); global; lm_head",
            // consistency checks are named by their Megatron key
            "decoder.layers.2.mlp.linear_fc1.layer_norm_weight (B); layer 2; norms",
            "decoder.layers.2.self_attention.linear_qkv.weight; layer 2; qkv",
            "decoder.layers.2.self_attention.linear_proj.weight; layer 2; o",
            "decoder.layers.2.mlp.linear_fc1.weight; layer 2; gate/up",
            "decoder.layers.2.mlp.experts.local_experts.3.linear_fc2.weight; layer 2; experts",
            "embedding.word_embeddings.weight; global; embed",
            "model.visual.blocks.4.attn.qkv_proj.weight; visual 4; qkv",
            "model.language_model.layers.7.mlp.up_proj.weight; layer 7; up",
            "model.layers.99999999999.mlp.up_proj.weight; global; up"})
    void placesHfAndMegatronNames(String name, String row, String column) {
        TensorKinds.Place p = TensorKinds.of(name);
        assertEquals(row, p.row(), name);
        assertEquals(column, p.column(), name);
    }
}
