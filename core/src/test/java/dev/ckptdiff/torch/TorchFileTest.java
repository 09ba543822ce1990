package dev.ckptdiff.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Tensor;

class TorchFileTest {

    @Test
    void everyMegatronShardMatchesWhatTorchSaved() {
        var files = Fixtures.find("*/global_step_10/actor/iter_*/mp_rank_*/model_optim_rng.pt");
        assertEquals(2 + 4 + 2, files.size());
        for (Path f : files) {
            JsonNode expected = Fixtures.manifest(f).get("tensors");
            try (TorchFile tf = TorchFile.open(f)) {
                Py.Dict root = (Py.Dict) tf.root();
                int checked = 0;
                for (Map.Entry<String, JsonNode> e : expected.properties()) {
                    String chunk = e.getKey().substring(0, e.getKey().indexOf('.'));
                    String key = e.getKey().substring(chunk.length() + 1);
                    Py v = ((Py.Dict) root.get(chunk)).get(key);
                    TorchTensor tt = (TorchTensor) assertInstanceOf(Py.Domain.class, v, key).value();
                    Tensor t = tt.named(key, f.toString());
                    assertEquals(e.getValue().get("dtype").asText(), t.dtype().name(), key);
                    assertArrayEquals(Fixtures.longs(e.getValue().get("shape")), t.shape(), key);
                    assertEquals(e.getValue().get("sha256").asText(), Fixtures.sha256(t), f + " " + key);
                    checked++;
                }
                assertTrue(checked > 10);
            }
        }
    }

    @Test
    void nonTensorContentIsInertAndReadable() {
        Path f = Fixtures.step("llama_tp2").resolve("actor/iter_0000010/mp_rank_00/model_optim_rng.pt");
        try (TorchFile tf = TorchFile.open(f)) {
            Py.Dict root = (Py.Dict) tf.root();
            Py.Instance args = assertInstanceOf(Py.Instance.class, root.get("args"));
            assertEquals("argparse.Namespace", args.type.qualified());
            assertEquals(new Py.Global("torch", "bfloat16"), PyValues.find(args, "params_dtype").orElseThrow());
            assertEquals(2L, PyValues.asLong(PyValues.find(args, "tensor_model_parallel_size").orElseThrow()).orElseThrow());
            Py.Instance backend = assertInstanceOf(Py.Instance.class, PyValues.find(args, "attention_backend").orElseThrow());
            assertEquals("megatron.core.transformer.enums.AttnBackend", backend.type.qualified());
            assertEquals(new Py.Float(3.0), root.get("checkpoint_version"));
            Py.Dict rng = (Py.Dict) ((Py.PyList) root.get("rng_state")).items.getFirst();
            Py.Tuple np = assertInstanceOf(Py.Tuple.class, rng.get("np_rng_state"));
            assertEquals(new Py.Str("MT19937"), np.get(0));
            Py.Instance arr = assertInstanceOf(Py.Instance.class, np.get(1));
            assertTrue(arr.type.name().equals("_reconstruct"), arr.type.qualified());
            Py.Dict model = (Py.Dict) root.get("model");
            // _extra_state in its three real shapes: None, a uint8 tensor, an io.BytesIO
            assertEquals(Py.None.INSTANCE, model.get("decoder.layers.0.self_attention.linear_qkv._extra_state"));
            Py u8 = model.get("decoder.layers.0.mlp.linear_fc1._extra_state");
            assertEquals(DType.U8, ((TorchTensor) ((Py.Domain) u8).value()).dtype());
            Py bio = model.get("decoder.layers.1.mlp.linear_fc1._extra_state");
            assertEquals("_io.BytesIO", ((Py.Instance) bio).type.qualified());
        }
    }

    @Test
    void viewsOfOneStorageKeepTheirOffsets() {
        Path f = Fixtures.step("qwen2_tp2_pp2").resolve("actor/iter_0000010/mp_rank_00_000/model_optim_rng.pt");
        try (TorchFile tf = TorchFile.open(f)) {
            Py.Dict model = (Py.Dict) ((Py.Dict) tf.root()).get("model");
            TorchTensor a = (TorchTensor) ((Py.Domain) model.get("embedding.word_embeddings.weight")).value();
            TorchTensor b = (TorchTensor) ((Py.Domain) model.get("decoder.layers.0.mlp.linear_fc2.weight")).value();
            assertEquals(a.storage().key(), b.storage().key(), "DDP-style flat buffer shared by parameters");
            assertFalse(a.storageOffset() == b.storageOffset());
        }
    }

    @Test
    void everyDtypeAndStridedViewDecodesToTorchsValues() {
        JsonNode values = Fixtures.json(Fixtures.path("dtypes/dtypes.values.json"));
        try (TorchFile tf = TorchFile.open(Fixtures.path("dtypes/dtypes.pt"))) {
            Py.Dict root = (Py.Dict) tf.root();
            for (Map.Entry<String, JsonNode> e : values.properties()) {
                Py v = root.get(e.getKey());
                assertNotNull(v, e.getKey());
                Tensor t = ((TorchTensor) ((Py.Domain) v).value()).named(e.getKey(), "zoo");
                assertEquals(e.getValue().size(), t.numel(), e.getKey());
                for (int i = 0; i < e.getValue().size(); i++) {
                    assertEquals(e.getValue().get(i).asDouble(), t.get(i), 0.0, e.getKey() + "[" + i + "]");
                }
            }
            Tensor strided = ((TorchTensor) ((Py.Domain) root.get("strided")).value()).named("s", "zoo");
            assertFalse(strided.isContiguous());
        }
    }
}
