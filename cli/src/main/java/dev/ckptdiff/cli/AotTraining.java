package dev.ckptdiff.cli;

import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The training run behind the launcher's AOT cache ({@code -XX:AOTCacheOutput}): the main job on
 * bundled samples of each format, repeated until their code is hot, so the cache holds the
 * classes and method profiles a real run needs (dense and MoE legacy shards, torch_dist). Later
 * runs then start with linked classes and compile the hot paths without profiling them first;
 * for a 48-layer MoE with 128 experts, where tens of thousands of small tensors meet code that is
 * still cold, that is a large part of the wall time (bench/moe.sh). Not a user command.
 */
final class AotTraining {
    /** Bundled step folders (under testdata/fixtures) and how often each runs. */
    private static final List<Sample> SAMPLES = List.of(
            new Sample("llama_tp2/global_step_10", 20),
            new Sample("moe/qwen3_moe_ep2/global_step_10", 40),
            new Sample("moe/qwen3_moe_tp2/global_step_10", 20),
            new Sample("torchdist_qwen2_tp2_pp2/global_step_10", 10),
            new Sample("torchdist_qwen3_moe_ep2/global_step_10", 10));

    private record Sample(String step, int runs) {
    }

    private AotTraining() {
    }

    public static void main(String[] args) {
        Path fixtures = Path.of(args[0]);
        PrintWriter discard = new PrintWriter(Writer.nullWriter());
        for (Sample s : SAMPLES) {
            Path step = fixtures.resolve(s.step());
            if (!Files.isDirectory(step)) {
                continue;
            }
            for (int i = 0; i < s.runs(); i++) {
                Main.run(discard, discard, "--no-progress", step.toString());
            }
        }
    }
}
