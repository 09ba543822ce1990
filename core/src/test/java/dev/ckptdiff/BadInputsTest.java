package dev.ckptdiff;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.safetensors.SafetensorsFile;
import dev.ckptdiff.torch.TorchFile;

/** Every file of the bad-input corpus must fail with its own one-line error, fast. */
class BadInputsTest {

    @TestFactory
    List<DynamicTest> eachBadFileGivesItsError() {
        Path dir = Fixtures.path("bad");
        JsonNode expected = Fixtures.json(dir.resolve("EXPECTED.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : expected.properties()) {
            Path file = dir.resolve(e.getKey());
            tests.add(DynamicTest.dynamicTest(e.getKey(), () -> {
                BadInputException ex = assertTimeoutPreemptively(Duration.ofSeconds(1), () ->
                        assertThrows(BadInputException.class, () -> {
                            if (file.toString().endsWith(".safetensors")) {
                                SafetensorsFile.open(file).close();
                            } else {
                                TorchFile.open(file).close();
                            }
                        }));
                String msg = ex.getMessage();
                assertTrue(msg.contains(e.getKey()), "names the file: " + msg);
                assertTrue(msg.contains(e.getValue().asText()), "says '" + e.getValue().asText() + "': " + msg);
                assertFalse(msg.contains("\n"), "one line: " + msg);
            }));
        }
        return tests;
    }
}
