package dev.ckptdiff.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.nio.file.Path;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.tensor.Tensor;

class SafetensorsFileTest {

    @Test
    void everyHfFixtureMatchesWhatTransformersWrote() {
        var manifests = Fixtures.find("*/global_step_10/actor/*/weights.manifest.json");
        assertEquals(6, manifests.size(), "three clean HF models and the HF copies of three torch_dist MoE steps");
        for (Path m : manifests) {
            Path dir = m.getParent();
            JsonNode expected = Fixtures.json(m).get("tensors");
            try (HfCheckpoint hf = HfCheckpoint.open(dir)) {
                assertEquals(expected.size(), hf.tensors().size(), dir.toString());
                for (Map.Entry<String, JsonNode> e : expected.properties()) {
                    Tensor t = hf.tensors().get(e.getKey());
                    assertNotNull(t, dir + ": " + e.getKey());
                    assertEquals(e.getValue().get("dtype").asText(), t.dtype().name(), e.getKey());
                    assertArrayEquals(Fixtures.longs(e.getValue().get("shape")), t.shape(), e.getKey());
                    assertEquals(e.getValue().get("sha256").asText(), Fixtures.sha256(t), e.getKey());
                }
                assertFalse(hf.config().path("architectures").isMissingNode());
            }
        }
    }

    @Test
    void shardedModelIsReadThroughItsIndex() {
        Path dir = Fixtures.step("qwen2_tp2_pp2").resolve("actor/hf_checkpoint");
        try (HfCheckpoint hf = HfCheckpoint.open(dir)) {
            assertEquals(5, hf.files().size());
            assertEquals("pt", hf.files().getFirst().metadata().get("format"));
        }
    }

    @Test
    void everyDtypeDecodesToTheValuesTorchHad() {
        JsonNode values = Fixtures.json(Fixtures.path("dtypes/dtypes.values.json"));
        try (SafetensorsFile f = SafetensorsFile.open(Fixtures.path("dtypes/dtypes.safetensors"))) {
            for (Map.Entry<String, JsonNode> e : values.properties()) {
                Tensor t = f.tensors().get(e.getKey());
                assertNotNull(t, e.getKey());
                for (int i = 0; i < e.getValue().size(); i++) {
                    assertEquals(e.getValue().get(i).asDouble(), t.get(i), 0.0, e.getKey() + "[" + i + "]");
                }
            }
        }
    }
}
