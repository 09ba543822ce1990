package dev.ckptdiff.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** config.json is read into the tree ObjectMapper's readTree would build, without an ObjectMapper. */
class JsonTreeTest {
    @TempDir
    Path dir;

    private JsonNode read(String json) throws Exception {
        Path f = dir.resolve("config.json");
        Files.writeString(f, json, StandardCharsets.UTF_8);
        return JsonFiles.read(f, JsonFiles.MAX_CONFIG, "config.json");
    }

    @Test
    void theTreeIsObjectMappersTree() throws Exception {
        ObjectMapper reference = new ObjectMapper();
        for (String json : List.of(
                "{\"architectures\": [\"Qwen3MoeForCausalLM\"], \"hidden_size\": 2048, \"rms_norm_eps\": 1e-06,"
                        + " \"rope_scaling\": null, \"tie_word_embeddings\": false, \"mlp_only_layers\": []}",
                "{\"a\": 1, \"b\": {\"c\": [1, 2.5, -3, \"x\", true, null, {\"d\": []}]}, \"a\": 2}",
                "{\"big\": 123456789012345678901234567890, \"long\": 12345678901, \"neg\": -2147483649, \"f\": 0.1}",
                "{\"text_config\": {\"num_experts\": 128, \"e\": \"\\u00e9\\n\\\"\"}, \"vision_config\": {}}",
                "[1, [2, [3, []]]]", "\"just a string\"", "42")) {
            JsonNode expected = reference.readTree(json);
            JsonNode actual = read(json);
            assertEquals(expected, actual, json);
            assertEquals(expected.toString(), actual.toString(), json + " (order, node types)");
        }
    }

    @Test
    void repeatedKeysKeepTheLastValueInTheFirstPlace() throws Exception {
        JsonNode n = read("{\"x\": 1, \"y\": 2, \"x\": 3}");
        assertEquals(3, n.get("x").asInt());
        assertEquals(List.of("x", "y"), List.copyOf(iterable(n.fieldNames())));
    }

    @Test
    void emptyTrailingAndBrokenInputAreOneLineErrors() {
        for (String[] c : new String[][]{{"", "is empty"}, {"{} {}", "holds data after its JSON value"},
                {"{\"a\": NaN}", "is not valid JSON at line 1"}, {"{\"a\": [1, 2}", "is not valid JSON at line 1"}}) {
            BadInputException e = assertThrows(BadInputException.class, () -> read(c[0]), c[0]);
            assertTrue(e.getMessage().contains(c[1]) && !e.getMessage().contains("\n"), e.getMessage());
        }
    }

    private static <T> List<T> iterable(java.util.Iterator<T> it) {
        List<T> out = new java.util.ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
