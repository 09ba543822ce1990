package dev.ckptdiff;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.ckptdiff.tensor.Tensor;

/** Where the generated fixtures are, and how to read what the generator recorded about them. */
public final class Fixtures {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Fixtures() {
    }

    public static Path root() {
        String dir = System.getProperty("ckptdiff.testdata", "../testdata");
        return Path.of(dir, "fixtures").toAbsolutePath().normalize();
    }

    public static Path path(String relative) {
        return root().resolve(relative);
    }

    public static Path step(String model) {
        return root().resolve(model).resolve("global_step_10");
    }

    public static JsonNode json(Path p) {
        try {
            return JSON.readTree(p.toFile());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static JsonNode manifest(Path file) {
        return json(Path.of(file + ".manifest.json"));
    }

    public static List<Path> find(String glob) {
        try (Stream<Path> s = Files.walk(root())) {
            var m = root().getFileSystem().getPathMatcher("glob:" + glob);
            return s.filter(p -> m.matches(root().relativize(p))).sorted().toList();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String sha256(Tensor t) {
        return dev.ckptdiff.tensor.TensorDigest.sha256(t);
    }

    public static long[] longs(JsonNode arr) {
        long[] out = new long[arr.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = arr.get(i).asLong();
        }
        return out;
    }
}
