package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile HF-side inputs (testdata/hostile/gen_hfside.py, and large files and FIFOs made here):
 * each ends as its expected exit code within seconds on the 256 MiB test heap; bad input as one
 * "ckpt-diff:" line naming the file and key, never an exception's name.
 */
class HostileHfSideCliTest {
    private static final Duration LIMIT = Duration.ofSeconds(10);
    /** Cases that parse hundreds of thousands of header entries: a few CPU seconds, more on a loaded machine. */
    private static final Duration LIMIT_LARGE = Duration.ofSeconds(60);

    static Path dir() {
        return Cli.fixtures().resolve("hostile/hfside");
    }

    @TestFactory
    List<DynamicTest> everyGeneratedCase() {
        JsonNode expected = Cli.read(dir().resolve("EXPECTED.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : expected.properties()) {
            tests.add(DynamicTest.dynamicTest(e.getKey(), () -> {
                List<String> args = new ArrayList<>();
                e.getValue().get("args").forEach(a -> args.add(a.asText().replace("{dir}", dir().toString())));
                List<String> says = new ArrayList<>();
                e.getValue().get("says").forEach(s -> says.add(s.asText()));
                expect(e.getValue().get("exit").asInt(), args, says.toArray(String[]::new));
            }));
        }
        return tests;
    }

    /** Runs the CLI under the time limit and checks the outcome. */
    static Cli expect(int exit, List<String> args, String... says) {
        return expect(LIMIT, exit, args, says);
    }

    static Cli expect(Duration limit, int exit, List<String> args, String... says) {
        Cli r = assertTimeoutPreemptively(limit, () -> Cli.run(args.toArray(String[]::new)), args::toString);
        String all = r.out() + r.err();
        assertEquals(exit, r.exit(), all);
        assertFalse(all.contains("Exception") || all.contains("\tat "), all);
        if (exit == 2) {
            String err = r.err().strip();
            String last = err.lines().reduce((a, b) -> b).orElse("");
            assertTrue(last.startsWith("ckpt-diff: ") && !last.startsWith("ckpt-diff: warning"), err);
            assertTrue(err.lines().allMatch(l -> l.startsWith("ckpt-diff: ")), "one line per problem: " + err);
            all = last;
        }
        for (String s : says) {
            assertTrue(all.contains(s), "'" + s + "' in:\n" + all);
        }
        return r;
    }

    @Test
    void twoCopiesWarnOnceAndFollowTheSingleFile() {
        Cli r = expect(0, List.of("inspect", dir().resolve("two_copies").toString()));
        assertEquals(1, r.err().lines().filter(l -> l.contains("two copies")).count(), r.err());
        assertTrue(r.err().startsWith("ckpt-diff: warning: "), r.err());
        assertTrue(r.out().contains("files: 1") || r.out().contains("files 1") || !r.out().contains("model-00001"),
                r.out());
    }

    // ---- side files far beyond any real size: refused by size, before reading ----

    private static void sparse(Path file, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    private static Path copyOf(Path tmp, String name) throws IOException {
        Path src = dir().resolve(name);
        Path out = tmp.resolve(name);
        Files.createDirectories(out);
        try (var s = Files.list(src)) {
            for (Path p : s.toList()) {
                Files.copy(p, out.resolve(p.getFileName()));
            }
        }
        return out;
    }

    @Test
    void aGigabyteTrackerFileIsRefusedBySize(@TempDir Path tmp) throws IOException {
        Path root = tmp.resolve("actor");
        Files.createDirectories(root.resolve("iter_0000010"));
        sparse(root.resolve("latest_checkpointed_iteration.txt"), 1L << 30);
        expect(2, List.of("inspect", root.toString()), "latest_checkpointed_iteration.txt", "1073741824 bytes");
    }

    @Test
    void aHundredMegabyteConfigIsRefusedBySize(@TempDir Path tmp) throws IOException {
        Path hf = copyOf(tmp, "tiny_ref");
        sparse(hf.resolve("config.json"), 100L << 20);
        expect(2, List.of("inspect", hf.toString()), "config.json", "104857600 bytes");
    }

    @Test
    void aHugeIndexIsRefusedBySize(@TempDir Path tmp) throws IOException {
        Path hf = copyOf(tmp, "tiny_sharded_ref");
        sparse(hf.resolve("model.safetensors.index.json"), 128L << 20);
        expect(2, List.of("inspect", hf.toString()), "model.safetensors.index.json", "134217728 bytes");
    }

    @Test
    void aYamlFarBeyondRealSizeIsRefused(@TempDir Path tmp) throws IOException {
        Path y = tmp.resolve("run.yaml");
        sparse(y, 64L << 20);
        expect(2, List.of("check", "--config", y.toString()), "run.yaml", "67108864 bytes");
    }

    // ---- safetensors headers with many tensors: streamed, bounded per tensor ----

    /** A safetensors file of {@code n} F32 tensors of {@code numel} (0 or 1) elements, written entry by entry. */
    private static Path manyTensors(Path file, int n, int numel) throws IOException {
        Path header = file.resolveSibling(file.getFileName() + ".header");
        try (OutputStream o = new BufferedOutputStream(Files.newOutputStream(header), 1 << 16)) {
            o.write('{');
            for (int i = 0; i < n; i++) {
                long at = 4L * numel * i;
                o.write(String.format("%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%d,%d]}",
                        i == 0 ? "" : ",", name(i), numel, at, at + 4L * numel).getBytes(StandardCharsets.US_ASCII));
            }
            o.write('}');
        }
        long len = Files.size(header);
        try (OutputStream o = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
            o.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(len).array());
            Files.copy(header, o);
            o.write(new byte[4 * n * numel]);
        }
        Files.delete(header);
        return file;
    }

    private static String name(int i) {
        return Integer.toString(i, 36);
    }

    @Test
    void aHeaderOfMillionsOfTensorsIsRefusedWithoutBuildingATree(@TempDir Path tmp) throws IOException {
        Path f = manyTensors(tmp.resolve("many.safetensors"), 1_700_000, 0);
        long header = Files.size(f) - 8;
        assertTrue(header > 90_000_000 && header < 100_000_000, "within the format's 100 MB limit: " + header);
        expect(LIMIT_LARGE, 2, List.of("inspect", f.toString()), "many.safetensors", "more than 262144 tensors");
    }

    @Test
    void aHeaderOfManyTensorsUnderTheCapIsRead(@TempDir Path tmp) throws IOException {
        Path f = manyTensors(tmp.resolve("many.safetensors"), 100_000, 1);
        Cli r = expect(LIMIT_LARGE, 0, List.of("inspect", f.toString()));
        assertTrue(r.out().contains(name(99_999)) && r.out().contains("100000"), "every tensor listed");
    }

    // ---- FIFOs where files are expected: refused, never opened ----

    private static Path fifo(Path p) throws IOException, InterruptedException {
        Files.deleteIfExists(p);
        Process mk = new ProcessBuilder("mkfifo", p.toString()).redirectErrorStream(true).start();
        Assumptions.assumeTrue(mk.waitFor() == 0, "mkfifo is not available");
        return p;
    }

    @Test
    void aFifoNamedLikeWeightsIsRefused(@TempDir Path tmp) throws Exception {
        Path hf = copyOf(tmp, "tiny_ref");
        fifo(hf.resolve("model.safetensors"));
        expect(2, List.of("inspect", hf.toString()), "model.safetensors", "not a regular file");
        expect(2, List.of("inspect", hf.resolve("model.safetensors").toString()), "model.safetensors",
                "not a regular file");
    }

    @Test
    void aFifoConfigIsRefused(@TempDir Path tmp) throws Exception {
        Path hf = copyOf(tmp, "tiny_ref");
        fifo(hf.resolve("config.json"));
        expect(2, List.of("check", hf.toString()), "config.json", "not a regular file");
        // A link to a device that never ends is no better.
        Files.delete(hf.resolve("config.json"));
        Files.createSymbolicLink(hf.resolve("config.json"), Path.of("/dev/zero"));
        expect(2, List.of("inspect", hf.toString()), "config.json", "not a regular file");
    }

    @Test
    void aFifoShardOrIndexIsRefused(@TempDir Path tmp) throws Exception {
        Path hf = copyOf(tmp, "tiny_sharded_ref");
        fifo(hf.resolve("model.safetensors.index.json"));
        expect(2, List.of("inspect", hf.toString()), "model.safetensors.index.json", "not a regular file");
        Path hf2 = copyOf(tmp.resolve("b"), "tiny_sharded_ref");
        String shard;
        try (var s = Files.list(hf2)) {
            shard = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".safetensors")).sorted()
                    .findFirst().orElseThrow();
        }
        fifo(hf2.resolve(shard));
        expect(2, List.of("inspect", hf2.toString()), shard, "not a regular file");
    }

    @Test
    void aFifoTorchFileTrackerOrYamlIsRefused(@TempDir Path tmp) throws Exception {
        expect(2, List.of("inspect", fifo(tmp.resolve("model.pt")).toString()), "model.pt", "not a regular file");
        Path root = tmp.resolve("actor");
        Files.createDirectories(root.resolve("iter_0000010"));
        fifo(root.resolve("latest_checkpointed_iteration.txt"));
        expect(2, List.of("inspect", root.toString()), "latest_checkpointed_iteration.txt", "not a regular file");
        expect(2, List.of("check", "--config", fifo(tmp.resolve("run.yaml")).toString()), "run.yaml",
                "not a regular file");
    }
}
