package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Converting Qwen3-MoE: every output is checked against make_moe.py's independently split shards by
 * real torch.load(weights_only=True), and the HF outputs by transformers' logits (testdata/verify_moe.py).
 */
class MoeConvertCliTest {
    private static Path actor(String name) {
        return Cli.fixtures().resolve("moe/" + name + "/global_step_10/actor");
    }

    private static Path hf() {
        return actor("qwen3_moe_tp2").resolve("hf_model");
    }

    private static void convert(String... args) {
        Cli r = Cli.run(args);
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("80 identical, 0 within tolerance, 0 finding(s)"), r.out());
    }

    private static void verify(Path python, String expected, Path out, Path hfOut) throws Exception {
        Path testdata = Cli.fixtures().getParent();
        ProcessBuilder pb = new ProcessBuilder(List.of(python.toString(), testdata.resolve("verify_moe.py").toString(),
                actor(expected).resolve("iter_0000010").toString(), out.resolve("iter_0000000").toString(),
                hf().toString(), hfOut.toString())).redirectErrorStream(true);
        pb.environment().put("PYTHONPATH", testdata.resolve("pysrc").toString());
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), expected + ":\n" + output);
        assertTrue(output.contains("tensors equal to make_moe.py's shards") && output.contains("logits equal"), output);
    }

    @Test
    void toMegatronWithEpAndBackLoadInTorchAndTransformers(@TempDir Path tmp) throws Exception {
        Path python = ConvertCliTest.pythonOrSkip();
        // HF -> TE grouped experts, TP=2 x EP=2; back to HF from those four folders, config derived from args.
        convert("convert", "to-megatron", hf().toString(), "--out", tmp.resolve("te").toString(), "--tp", "2", "--ep", "2");
        assertTrue(Files.isDirectory(tmp.resolve("te/iter_0000000/mp_rank_01_001")));
        convert("convert", "to-hf", tmp.resolve("te").toString(), "--out", tmp.resolve("hf").toString());
        verify(python, "qwen3_moe_tp2_ep2", tmp.resolve("te"), tmp.resolve("hf"));
        // HF -> sequential experts (local spec), TP=2.
        convert("convert", "to-megatron", hf().toString(), "--out", tmp.resolve("local").toString(), "--tp", "2",
                "--spec", "local");
        verify(python, "qwen3_moe_tp2", tmp.resolve("local"), tmp.resolve("hf"));
    }

    @Test
    void reshardChangesTpAndEp(@TempDir Path tmp) throws Exception {
        Path python = ConvertCliTest.pythonOrSkip();
        convert("convert", "reshard", actor("qwen3_moe_tp2_ep2").toString(), "--out", tmp.resolve("ep2").toString(),
                "--tp", "1", "--pp", "1", "--ep", "2");
        convert("convert", "to-hf", actor("qwen3_moe_tp2").toString(), "--out", tmp.resolve("hf").toString(),
                "--config-from", hf().toString());
        verify(python, "qwen3_moe_ep2", tmp.resolve("ep2"), tmp.resolve("hf"));
    }

    @Test
    void anExpertCountThatDoesNotDivideIsBadInput(@TempDir Path tmp) {
        Cli r = Cli.run("convert", "to-megatron", hf().toString(), "--out", tmp.resolve("x").toString(), "--ep", "3");
        assertEquals(2, r.exit(), r.out() + r.err());
        assertEquals("ckpt-diff: --ep 3: 8 experts do not divide by 3", r.err().strip());
        assertTrue(Files.notExists(tmp.resolve("x")));
    }
}
