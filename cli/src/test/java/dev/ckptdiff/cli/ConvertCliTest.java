package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConvertCliTest {
    static Path check(String model) {
        return Cli.fixtures().resolve("check").resolve(model);
    }

    /** ckpt-diff A B --json: every tensor identical. */
    static void assertIdentical(Path a, Path b) {
        Cli r = Cli.run("--json", "-", a.toString(), b.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        JsonNode counts = r.json().get("comparisons").get(0).get("counts");
        assertEquals(0, counts.get("within_tolerance").asInt() + counts.get("different").asInt()
                + counts.get("only_in_a").asInt() + counts.get("only_in_b").asInt(), counts.toString());
        assertTrue(counts.get("identical").asInt() > 30, counts.toString());
    }

    @ParameterizedTest
    @CsvSource({"llama, 2, 2, te", "qwen2, 2, 2, local", "qwen3, 1, 2, te", "qwen2, 2, 1, te"})
    void hfToMegatronToHfIsBitwiseExact(String model, int tp, int pp, String spec, @TempDir Path tmp) {
        Path meg = tmp.resolve("meg");
        Cli a = Cli.run("convert", "to-megatron", check(model).toString(), "--out", meg.toString(), "--tp", "" + tp,
                "--pp", "" + pp, "--spec", spec);
        assertEquals(0, a.exit(), a.out() + a.err());
        assertTrue(a.out().contains("0 finding(s)"), a.out());
        assertTrue(Files.isRegularFile(meg.resolve("latest_checkpointed_iteration.txt")));
        Path back = tmp.resolve("hf");
        Cli b = Cli.run("convert", "to-hf", meg.toString(), "--out", back.toString(), "--config-from", check(model).toString());
        assertEquals(0, b.exit(), b.out() + b.err());
        assertIdentical(check(model), back);
        Cli c = Cli.run("check", meg.toString());
        assertEquals(0, c.exit(), c.out());
    }

    @Test
    void reshardingTp2ToTp1KeepsEveryWeight(@TempDir Path tmp) {
        Path src = Cli.fixtures().resolve("llama_tp2/global_step_10/actor/iter_0000010");
        Path out = tmp.resolve("tp1");
        Cli r = Cli.run("convert", "reshard", src.toString(), "--out", out.toString(), "--tp", "1", "--pp", "1");
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("weights only"), r.out());
        assertIdentical(src, out);
    }

    @Test
    void toHfDropsVocabularyPaddingAndShards(@TempDir Path tmp) throws IOException {
        Path actor = Cli.fixtures().resolve("llama_tp2/global_step_10/actor");
        Path out = tmp.resolve("hf");
        Cli r = Cli.run("convert", "to-hf", actor.resolve("iter_0000010").toString(), "--out", out.toString(),
                "--config-from", actor.resolve("hf_model").toString(), "--max-shard-size", "200KB");
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors.index.json")), "sharded above the limit");
        Cli i = Cli.run("inspect", "--json", out.toString());
        for (JsonNode t : i.json().get("copies").get(0).get("tensors")) {
            if (t.get("name").asText().equals("model.embed_tokens.weight")) {
                assertEquals(250, t.get("shape").get(0).asInt(), "250 of 256 padded rows kept");
            }
        }
        assertIdentical(actor.resolve("hf_model"), out);
    }

    @Test
    void anFp16ExportIsVerifiedWithinTolerance(@TempDir Path tmp) {
        Path out = tmp.resolve("fp16");
        Cli r = Cli.run("convert", "to-hf", Cli.fixtures().resolve("qwen3_pp2_vpp2/global_step_10").toString(), "--out",
                out.toString(), "--dtype", "fp16");
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("config.json derived from args"), r.out());
        Cli d = Cli.run("--json", "-", Cli.fixtures().resolve("qwen3_pp2_vpp2/global_step_10/actor/hf_model").toString(),
                out.toString());
        assertEquals(0, d.exit(), d.out());
        assertTrue(d.json().get("comparisons").get(0).get("tensors").get(0).get("dtype_b").asText().equals("F16"));
    }

    @Test
    void anExistingOutputIsKeptWithoutForce(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("meg");
        Files.createDirectories(out);
        Files.writeString(out.resolve("keep.txt"), "mine");
        Cli r = Cli.run("convert", "to-megatron", check("llama").toString(), "--out", out.toString(), "--tp", "2");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("already exists"), r.err());
        assertTrue(Files.isRegularFile(out.resolve("keep.txt")));
        Cli f = Cli.run("convert", "to-megatron", check("llama").toString(), "--out", out.toString(), "--tp", "2", "--force");
        assertEquals(0, f.exit(), f.out() + f.err());
        assertFalse(Files.exists(out.resolve("keep.txt")));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of("meg"), s.map(p -> p.getFileName().toString()).toList(), "no temporary folders left");
        }
    }

    @Test
    void layoutsThatDoNotFitAreRefused(@TempDir Path tmp) {
        Cli r = Cli.run("convert", "to-megatron", check("llama").toString(), "--out", tmp.resolve("x").toString(), "--tp", "3");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--tp 3"), r.err());
        Cli v = Cli.run("convert", "to-megatron", check("qwen3_moe").toString(), "--out", tmp.resolve("y").toString(),
                "--ep", "3");
        assertEquals(2, v.exit());
        assertTrue(v.err().contains("--ep 3") && v.err().contains("do not divide by 3"), v.err());
    }

    /** A torch.save archive with ZIP64 records (what files over 4 GiB need), read by us and by real torch. */
    @Test
    void zip64ArchivesAreReadByTorchAndByUs(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("zip64.pt");
        float[] values = {1.5f, -2.0f, 0.25f, 3.0f, -0.5f, 8.0f};
        var tensor = new dev.ckptdiff.pickle.PickleWriter.StorageTensor("0", "FloatStorage", values.length, new long[]{2, 3});
        byte[] pickle = dev.ckptdiff.pickle.PickleWriter.dump(java.util.Map.of("w", tensor));
        dev.ckptdiff.torch.TorchSaveWriter.write(file, pickle,
                List.of(new dev.ckptdiff.torch.TorchSaveWriter.Storage("0", 4L * values.length, null)),
                (st, sink) -> {
                    var bytes = java.lang.foreign.MemorySegment.ofArray(new byte[4 * values.length]);
                    for (int i = 0; i < values.length; i++) {
                        bytes.set(dev.ckptdiff.io.MappedFile.INT_LE, 4L * i, Float.floatToRawIntBits(values[i]));
                    }
                    sink.write(0, bytes);
                }, 0);
        try (var tf = dev.ckptdiff.torch.TorchFile.open(file)) {
            var t = ((dev.ckptdiff.torch.TorchTensor) ((dev.ckptdiff.pickle.Py.Domain)
                    ((dev.ckptdiff.pickle.Py.Dict) tf.root()).get("w")).value()).named("w", "zip64");
            for (int i = 0; i < values.length; i++) {
                assertEquals(values[i], t.get(i), 0.0);
            }
        }
        Path python = pythonOrSkip();
        Process p = new ProcessBuilder(python.toString(), "-c", "import sys, torch\n"
                + "t = torch.load(sys.argv[1], weights_only=True)['w']\n"
                + "assert t.shape == (2, 3) and t.flatten().tolist() == [1.5, -2.0, 0.25, 3.0, -0.5, 8.0], t\n"
                + "import zipfile; assert zipfile.ZipFile(sys.argv[1]).testzip() is None\n"
                + "print('zip64 ok')", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.contains("zip64 ok"), out);
    }

    /** The Python with torch and transformers, or skip (but never in CI). */
    static Path pythonOrSkip() {
        Path testdata = Cli.fixtures().getParent();
        Path python = Path.of(System.getenv().getOrDefault("CKPTDIFF_PYTHON", testdata.resolve(".venv/bin/python").toString()));
        if (!Files.isExecutable(python)) {
            assertFalse("true".equals(System.getenv("CI")), "CI must run the Python checks: " + python
                    + " is missing (run ./run-tests)");
            assumeTrue(false, "no Python environment at " + python);
        }
        return python;
    }

    /**
     * The outputs, loaded by real PyTorch and transformers (testdata/verify_converted.py). CI sets up
     * the Python environment (./run-tests); elsewhere the test is skipped if there is none.
     */
    @Test
    void realTorchAndTransformersLoadTheOutputs(@TempDir Path tmp) throws Exception {
        Path testdata = Cli.fixtures().getParent();
        Path python = pythonOrSkip();
        for (String[] c : new String[][]{{"qwen2", "2", "2", "te"}, {"llama", "2", "1", "local"}, {"qwen3", "1", "2", "te"}}) {
            Path meg = tmp.resolve(c[0] + "-meg");
            Path hf = tmp.resolve(c[0] + "-hf");
            assertEquals(0, Cli.run("convert", "to-megatron", check(c[0]).toString(), "--out", meg.toString(), "--tp", c[1],
                    "--pp", c[2], "--spec", c[3]).exit());
            assertEquals(0, Cli.run("convert", "to-hf", meg.toString(), "--out", hf.toString(), "--config-from",
                    check(c[0]).toString()).exit());
            List<String> cmd = new ArrayList<>(List.of(python.toString(), testdata.resolve("verify_converted.py").toString(),
                    check(c[0]).toString(), meg.toString(), c[1], c[2], c[3], hf.toString()));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            pb.environment().put("PYTHONPATH", testdata.resolve("pysrc").toString());
            Process p = pb.start();
            String output = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), c[0] + ":\n" + output);
            assertTrue(output.contains("tensors equal to the expected shards") && output.contains("logits equal"), output);
        }
    }
}
