package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Qwen2.5-VL and Qwen3-VL through the converters: round trips bitwise (checked by ckpt-diff), and the
 * outputs read by real torch and transformers (testdata/verify_vl.py): written shards equal to the ones
 * make_vl.py wrote, HF outputs giving the source's logits on text with an image.
 */
class VisionLanguageConvertTest {
    static Path actor(String name) {
        return VisionLanguageCliTest.vl(name).resolve("actor");
    }

    static String python(String... args) throws Exception {
        Path testdata = Cli.fixtures().getParent();
        List<String> cmd = new java.util.ArrayList<>(List.of(ConvertCliTest.pythonOrSkip().toString(),
                testdata.resolve("verify_vl.py").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), String.join(" ", args) + ":\n" + out);
        return out;
    }

    @ParameterizedTest
    @CsvSource({"qwen25vl_tp2, 1, 1", "qwen25vl_tp2_pp2, 2, 2", "qwen3vl_tp2, 2, 1", "qwen3vl_tp2, 1, 1"})
    void megatronToHfToMegatronIsBitwise(String name, int tp, int pp, @TempDir Path tmp) {
        Path src = actor(name).resolve("iter_0000010");
        Path hf = tmp.resolve("hf");
        Cli a = Cli.run("convert", "to-hf", src.toString(), "--out", hf.toString(), "--config-from",
                actor(name).resolve("hf_checkpoint").toString());
        assertEquals(0, a.exit(), a.out() + a.err());
        assertTrue(a.out().contains("0 finding(s)"), a.out());
        ConvertCliTest.assertIdentical(actor(name).resolve("hf_checkpoint"), hf); // either key layout against the output
        Path meg = tmp.resolve("meg");
        Cli b = Cli.run("convert", "to-megatron", hf.toString(), "--out", meg.toString(), "--tp", "" + tp, "--pp", "" + pp);
        assertEquals(0, b.exit(), b.out() + b.err());
        ConvertCliTest.assertIdentical(src, meg);
        Cli c = Cli.run("check", meg.toString());
        assertEquals(0, c.exit(), c.out());
    }

    @Test
    void qwen25VlOutputKeepsTheHubsKeyLayoutAndQwen3VlItsOwn(@TempDir Path tmp) throws Exception {
        Path hf = tmp.resolve("hf");
        assertEquals(0, Cli.run("convert", "to-hf", actor("qwen25vl_tp2_pp2").resolve("iter_0000010").toString(), "--out",
                hf.toString(), "--config-from", actor("qwen25vl_tp2_pp2").resolve("hf_checkpoint").toString()).exit());
        Cli i = Cli.run("inspect", "--json", hf.toString());
        String names = i.json().get("copies").get(0).get("tensors").findValuesAsText("name").toString();
        assertTrue(names.contains("visual.blocks.0.attn.qkv.weight") && names.contains("model.layers.0.mlp.up_proj.weight")
                && !names.contains("model.visual.") && !names.contains("language_model"), names);
        assertTrue(Files.isRegularFile(hf.resolve("config.json")));
    }

    @ParameterizedTest
    @CsvSource({"qwen25vl_tp2, 2, 1", "qwen25vl_tp2_pp2, 2, 2", "qwen3vl_tp2, 2, 1"})
    void realTorchAndTransformersAgree(String name, int tp, int pp, @TempDir Path tmp) throws Exception {
        Path orig = actor(name).resolve("hf_checkpoint");
        Path meg = tmp.resolve("meg");
        Cli a = Cli.run("convert", "to-megatron", orig.toString(), "--out", meg.toString(), "--tp", "" + tp, "--pp", "" + pp);
        assertEquals(0, a.exit(), a.out() + a.err());
        String shards = python("--shards", actor(name).resolve("iter_0000010").toString(), meg.resolve("iter_0000000").toString());
        assertTrue(shards.contains("tensors equal to make_vl.py's shards"), shards);
        Path hf = tmp.resolve("hf");
        Cli b = Cli.run("convert", "to-hf", actor(name).resolve("iter_0000010").toString(), "--out", hf.toString(),
                "--config-from", orig.toString());
        assertEquals(0, b.exit(), b.out() + b.err());
        String logits = python(orig.toString(), hf.toString());
        assertTrue(logits.contains("logits equal") && logits.contains("with one image"), logits);
    }

    @Test
    void reshardingAVlCheckpointKeepsEveryWeight(@TempDir Path tmp) {
        Path src = actor("qwen3vl_tp2").resolve("iter_0000010");
        Path out = tmp.resolve("tp1");
        Cli r = Cli.run("convert", "reshard", src.toString(), "--out", out.toString(), "--tp", "1", "--pp", "1");
        assertEquals(0, r.exit(), r.out() + r.err());
        ConvertCliTest.assertIdentical(src, out);
    }

    @Test
    void toHfFromVlShardsNeedsTheConfigThatDescribesTheVisionTower(@TempDir Path tmp) {
        Cli r = Cli.run("convert", "to-hf", actor("qwen3vl_tp2").resolve("iter_0000010").toString(), "--out",
                tmp.resolve("hf").toString());
        assertEquals(2, r.exit(), r.out() + r.err());
        assertTrue(r.err().startsWith("ckpt-diff: ") && r.err().contains("--config-from") && r.err().strip().lines().count() == 1,
                r.err());
        assertTrue(Files.notExists(tmp.resolve("hf")));
    }
}
