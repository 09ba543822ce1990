package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class InspectCliTest {

    /** Every tensor inspect lists must be what the generator recorded: name, dtype, shape, bytes. */
    @ParameterizedTest
    @ValueSource(strings = {"llama_tp2", "qwen2_tp2_pp2", "qwen3_pp2_vpp2"})
    void listsEveryTensorAsTheGeneratorRecordedIt(String model) throws IOException {
        Path step = Cli.fixtures().resolve(model).resolve("global_step_10");
        Cli r = Cli.run("inspect", "--json", "--sha256", step.toString());
        assertEquals(0, r.exit(), r.err());
        JsonNode copies = r.json().get("copies");
        assertEquals(2, copies.size());
        Map<String, JsonNode> expected = new HashMap<>();
        try (Stream<Path> s = Files.walk(step)) {
            for (Path m : s.filter(p -> p.toString().endsWith(".manifest.json")).toList()) {
                JsonNode tensors = Cli.read(m).get("tensors");
                String prefix = m.getFileName().toString().startsWith("weights") ? "hf/"
                        : "megatron/" + m.getParent().getFileName() + "/";
                tensors.properties().stream().filter(e -> !e.getKey().endsWith("._extra_state")) // not weights
                        .forEach(e -> expected.put(prefix + e.getKey(), e.getValue()));
            }
        }
        int seen = 0;
        for (JsonNode copy : copies) {
            for (JsonNode t : copy.get("tensors")) {
                String key = copy.get("kind").asText().equals("hf") ? "hf/" + t.get("name").asText()
                        : "megatron/" + t.get("file").asText() + "/" + t.get("chunk").asText() + "." + t.get("key").asText();
                JsonNode e = expected.get(key);
                assertNotNull(e, key);
                assertEquals(e.get("dtype").asText(), t.get("dtype").asText(), key);
                assertEquals(e.get("shape"), t.get("shape"), key);
                assertEquals(e.get("sha256").asText(), t.get("sha256").asText(), key);
                seen++;
            }
        }
        assertEquals(expected.size(), seen, "inspect lists every recorded tensor and no other");
    }

    @Test
    void showsTheLayoutAndTheArgsThatMatter() {
        Cli r = Cli.run("inspect", "--no-tensors", Cli.fixtures().resolve("qwen3_pp2_vpp2/global_step_10").toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("Qwen3ForCausalLM"), r.out());
        assertTrue(r.out().contains("TP=1 PP=2 VPP=2"), r.out());
        assertTrue(r.out().contains("args.qk_layernorm") && r.out().contains("True"), r.out());
        assertTrue(r.out().contains("args.params_dtype") && r.out().contains("torch.bfloat16"), r.out());
        Cli t = Cli.run("inspect", Cli.fixtures().resolve("qwen2_tp2_pp2/global_step_10/actor/iter_0000010").toString());
        assertTrue(t.out().contains("TP=2 PP=2"), t.out());
        assertTrue(t.out().lines().anyMatch(l -> l.contains("decoder.layers.3.self_attention.linear_qkv.bias")
                && l.contains("BF16") && l.contains("[64]") && l.contains("mp_rank_01_001 (decoder.layers.1.")), t.out());
    }

    @Test
    void printsTheNonTensorContentAsATree() {
        Cli r = Cli.run("inspect", "--tree", "--no-tensors", Cli.fixtures()
                .resolve("llama_tp2/global_step_10/actor/iter_0000010/mp_rank_00/model_optim_rng.pt").toString());
        assertEquals(0, r.exit(), r.err());
        for (String s : new String[]{"args: argparse.Namespace", "params_dtype: torch.bfloat16",
                "attention_backend: megatron.core.transformer.enums.AttnBackend(5)", "numpy.ndarray",
                "io.BytesIO(bytes[", "checkpoint_version: 3.0", "rng_state: list[1]"}) {
            assertTrue(r.out().contains(s), s + " in\n" + r.out());
        }
    }

    @Test
    void listsTensorsOfAnyTorchFileWithTheirStorageViews() {
        Cli r = Cli.run("inspect", "--json", Cli.fixtures().resolve("dtypes/dtypes.pt").toString());
        assertEquals(0, r.exit(), r.err());
        JsonNode ts = r.json().get("copies").get(0).get("tensors");
        assertEquals(15, ts.size()); // includes an nn.Parameter (_rebuild_parameter)
        boolean strided = false;
        for (JsonNode t : ts) {
            strided |= t.get("name").asText().equals("strided") && t.get("file").asText().endsWith("strided");
        }
        assertTrue(strided, ts.toString());
    }
}
