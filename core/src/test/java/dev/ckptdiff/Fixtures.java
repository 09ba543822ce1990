package dev.ckptdiff;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
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

    /** SHA-256 of a tensor's elements in row-major order, whatever its strides. */
    public static String sha256(Tensor t) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            if (t.isContiguous()) {
                md.update(t.bytes().asByteBuffer());
            } else {
                int size = t.dtype().size();
                for (long i = 0; i < t.numel(); i++) {
                    MemorySegment e = t.storage().asSlice(t.byteOffsetOf(i), size);
                    md.update(e.toArray(ValueLayout.JAVA_BYTE));
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static long[] longs(JsonNode arr) {
        long[] out = new long[arr.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = arr.get(i).asLong();
        }
        return out;
    }
}
