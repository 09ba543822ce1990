package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DiffCliTest {

    @Test
    void cleanStepIsExitZeroAndSaysSame() {
        Cli r = Cli.run("--no-progress", Cli.fixtures().resolve("qwen2_tp2_pp2/global_step_10").toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("50 identical"), r.out());
        assertTrue(r.out().contains("SAME: 0 finding(s)"), r.out());
    }

    @Test
    void aFaultIsExitOneAndNamesTheShard() {
        Cli r = Cli.run(Cli.fixtures().resolve("faults/shard_nan/global_step_10").toString());
        assertEquals(1, r.exit());
        assertTrue(r.out().contains("model.layers.1.self_attn.o_proj.weight  non-finite"), r.out());
        assertTrue(r.out().contains("mp_rank_00 decoder.layers.1.self_attention.linear_proj.weight"), r.out());
        assertTrue(r.out().contains("B[5, 7] = NaN"), r.out());
    }

    @Test
    void jsonReportHasEveryMetricAndIsWrittenWhole(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("report.json");
        Cli r = Cli.run("--json", out.toString(), Cli.fixtures().resolve("faults/hf_element/global_step_10").toString());
        assertEquals(1, r.exit());
        JsonNode j = Cli.read(out);
        assertEquals(1, j.get("schema_version").asInt());
        assertEquals(1, j.get("findings").asInt());
        JsonNode cmp = j.get("comparisons").get(0);
        assertEquals(38, cmp.get("counts").get("identical").asInt());
        JsonNode bad = null;
        for (JsonNode t : cmp.get("tensors")) {
            if (t.get("verdict").asText().equals("different")) {
                bad = t;
            }
        }
        assertEquals("model.layers.1.mlp.down_proj.weight", bad.get("name").asText());
        for (String f : new String[]{"max_abs_diff", "mean_abs_diff", "rel_l2", "cosine", "nan_a", "nan_b", "equal"}) {
            assertTrue(bad.has(f), f);
        }
        assertEquals("[3, 40]", bad.get("where").get(0).get("max").get("index").asText());
        assertEquals("mp_rank_00", bad.get("where").get(0).get("b").get("file").asText());
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(1, s.count(), "no temporary file left behind");
        }
    }

    @Test
    void allListsEveryTensor() {
        Cli r = Cli.run("--all", Cli.fixtures().resolve("llama_tp2/global_step_10").toString());
        assertEquals(0, r.exit());
        assertTrue(r.out().contains("model.layers.3.mlp.up_proj.weight"), r.out());
        assertTrue(r.out().contains("cosine"), r.out());
    }

    @Test
    void theTorchEngineFindsTheSameFault() {
        Cli r = Cli.run("--engine", "torch", Cli.fixtures().resolve("faults/hf_element/global_step_10").toString());
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.out().contains("model.layers.1.mlp.down_proj.weight  different"), r.out());
        assertTrue(r.out().contains("engine torch"), r.out());
    }

    @Test
    void anUnknownEngineIsExitTwo() {
        Cli r = Cli.run("--engine", "cuda-magic", Cli.fixtures().resolve("llama_tp2/global_step_10").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--engine cuda-magic is not available"), r.err());
    }

    @Test
    void anUnknownArchitectureIsAnErrorListingTheSupportedOnes(@TempDir Path tmp) throws IOException {
        Path actor = Cli.fixtures().resolve("llama_tp2/global_step_10/actor");
        Path hf = tmp.resolve("hf");
        Files.createDirectories(hf);
        Files.copy(actor.resolve("hf_model/model.safetensors"), hf.resolve("model.safetensors"));
        Files.writeString(hf.resolve("config.json"), Files.readString(actor.resolve("hf_model/config.json"))
                .replace("LlamaForCausalLM", "GPT2LMHeadModel").replace("\"llama\"", "\"gpt2\""));
        Cli r = Cli.run(hf.toString(), actor.resolve("iter_0000010").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("GPT2LMHeadModel") && r.err().contains("not supported")
                && r.err().contains("LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM"), r.err());
    }
}
