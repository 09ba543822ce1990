package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A run split with --shard and put together with merge is the run done whole. */
class ShardCliTest {

    static Path input(String fixture) {
        return Cli.fixtures().resolve(fixture + "/global_step_10");
    }

    /** Timings are the one thing allowed to differ. */
    static JsonNode withoutTimings(JsonNode n) {
        ObjectNode o = n.deepCopy();
        o.remove("seconds");
        return o;
    }

    static List<String> parts(Path tmp, String fixture, int n) throws IOException {
        Files.createDirectories(tmp);
        List<String> files = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Path f = tmp.resolve("part-" + i + ".json");
            Cli r = Cli.run("--no-progress", "--shard", i + "/" + n, "--json", f.toString(), input(fixture).toString());
            assertTrue(r.exit() == 0 || r.exit() == 1, r.err());
            files.add(f.toString());
        }
        return files;
    }

    @ParameterizedTest
    @CsvSource({"faults/qkv_kv_swap, 3", "faults/hf_gate_up_swap, 4", "faults/replicated_norm, 2", "faults/hf_missing, 3",
            "faults/shard_nan, 5", "qwen2_tp2_pp2, 3", "llama_tp2, 1"})
    void mergedShardsAreTheUnshardedReport(String fixture, int n, @TempDir Path tmp) throws IOException {
        Path whole = tmp.resolve("whole.json");
        Cli full = Cli.run("--no-progress", "--color", "never", "--json", whole.toString(), "--html", tmp.resolve("whole.html").toString(),
                input(fixture).toString());
        List<String> args = new ArrayList<>(List.of("merge", "--json", tmp.resolve("merged.json").toString(),
                "--html", tmp.resolve("merged.html").toString()));
        args.addAll(parts(tmp, fixture, n));
        Cli merged = Cli.run(args.toArray(String[]::new));
        assertEquals(full.exit(), merged.exit(), merged.err());
        assertEquals(withoutTimings(Cli.read(whole)), withoutTimings(Cli.read(tmp.resolve("merged.json"))));
        // the text a person reads is the same too, but for the seconds on the last line
        assertEquals(full.out().replaceAll("\\d+\\.\\d+ s,", "s,"), merged.out().replaceAll("\\d+\\.\\d+ s,", "s,"));
        assertEquals(Files.readString(tmp.resolve("whole.html")).replaceAll("\\d+\\.\\d+ s<", "s<"),
                Files.readString(tmp.resolve("merged.html")).replaceAll("\\d+\\.\\d+ s<", "s<"), "the same HTML report");
    }

    @Test
    void partsAreDeterministicAndBalancedByBytes(@TempDir Path tmp) throws IOException {
        List<String> first = parts(tmp.resolve("a"), "qwen2_tp2_pp2", 3);
        List<String> second = parts(tmp.resolve("b"), "qwen2_tp2_pp2", 3);
        long max = 0;
        long min = Long.MAX_VALUE;
        long largest = 0;
        for (int i = 0; i < 3; i++) {
            JsonNode x = Cli.read(Path.of(first.get(i)));
            JsonNode y = Cli.read(Path.of(second.get(i)));
            assertEquals(names(x), names(y), "part " + i + " holds the same tensors every time");
            long bytes = 0;
            for (String list : List.of("tensors", "checks")) {
                for (JsonNode t : x.get("comparisons").get(0).get(list)) {
                    long b = bytes(t.get("shape_a"), t.get("dtype_a").asText()) + bytes(t.get("shape_b"), t.get("dtype_b").asText());
                    bytes += b;
                    largest = Math.max(largest, b);
                }
            }
            max = Math.max(max, bytes);
            min = Math.min(min, bytes);
        }
        assertTrue(min > 0, "no empty part");
        // k/v and gate/up travel together (one unit of at most two tensors); greedy largest-first keeps the parts
        // within one unit of each other
        assertTrue(max - min <= 2 * largest, "parts balanced by bytes read: " + min + ".." + max + ", largest tensor " + largest);
    }

    private static long bytes(JsonNode shape, String dtype) {
        if (!shape.isArray()) {
            return 0;
        }
        long n = dtype.equals("F32") ? 4 : 2;
        for (JsonNode d : shape) {
            n *= d.asLong();
        }
        return n;
    }

    private static List<String> names(JsonNode part) {
        List<String> out = new ArrayList<>();
        part.get("comparisons").get(0).get("tensors").forEach(t -> out.add(t.get("name").asText()));
        return out;
    }

    @Test
    void mergeRefusesMissingRepeatedAndForeignParts(@TempDir Path tmp) throws IOException {
        List<String> mine = parts(tmp.resolve("mine"), "faults/qkv_kv_swap", 3);
        List<String> other = parts(tmp.resolve("other"), "faults/hf_element", 3);
        assertOneLine(Cli.run("merge", mine.get(0), mine.get(2)), "1/3 missing");
        assertOneLine(Cli.run("merge", mine.get(0), mine.get(1), mine.get(1), mine.get(2)), "again");
        assertOneLine(Cli.run("merge", mine.get(0), other.get(1), mine.get(2)), "different run");
        Path notJson = tmp.resolve("notes.txt");
        Files.writeString(notJson, "not json");
        assertOneLine(Cli.run("merge", notJson.toString()), "notes.txt");
        Path whole = tmp.resolve("whole.json");
        Cli.run("--no-progress", "--json", whole.toString(), input("faults/qkv_kv_swap").toString());
        assertOneLine(Cli.run("merge", whole.toString()), "not a part written by --shard");
    }

    @Test
    void shardNeedsAFileAndAValidPart() {
        assertOneLine(Cli.run("--shard", "0/2", input("llama_tp2").toString()), "--json");
        assertOneLine(Cli.run("--shard", "2/2", "--json", "-", input("llama_tp2").toString()), "0 <= I < N");
        assertOneLine(Cli.run("--shard", "x", "--json", "-", input("llama_tp2").toString()), "0 <= I < N");
    }

    static void assertOneLine(Cli r, String contains) {
        assertEquals(2, r.exit(), r.out() + r.err());
        String err = r.err().strip();
        assertTrue(err.startsWith("ckpt-diff: ") && !err.contains("\n") && err.contains(contains), err);
    }

}
