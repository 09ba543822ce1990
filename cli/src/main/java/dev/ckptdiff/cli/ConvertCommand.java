package dev.ckptdiff.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.ckptdiff.convert.Convert;
import dev.ckptdiff.convert.MegatronWriter;
import dev.ckptdiff.convert.OutputFolder;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.diff.VectorEngine;
import dev.ckptdiff.diff.Verdict;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.tensor.DType;

@Command(name = "convert", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        subcommands = {ConvertCommand.ToHf.class, ConvertCommand.ToMegatron.class, ConvertCommand.Reshard.class},
        description = {"Convert between HF and Megatron, or change a Megatron checkpoint's layout.",
                "Outputs are written to a temporary folder, read back and compared with the source, and only",
                "then moved into place. Exit codes: 0 written and verified, 1 verification failed, 2 bad input."})
final class ConvertCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "give a conversion: to-hf, to-megatron or reshard");
    }

    /** Options every conversion has. */
    static final class Output {
        @Option(names = "--out", required = true, paramLabel = "DIR", description = "The folder to create.")
        Path out;

        @Option(names = "--force", description = "Replace --out if it exists (only once the new output is complete).")
        boolean force;

        /** Where to write; what was cleaned up from earlier, killed runs goes to stderr. */
        OutputFolder.Target target(CommandSpec spec) {
            PrintWriter err = spec.commandLine().getErr();
            return new OutputFolder.Target(out, force, w -> err.println("ckpt-diff: " + w));
        }

        static Differ verifier() {
            return new Differ(new VectorEngine(), new Differ.Options(Tolerance.DEFAULT, false,
                    Runtime.getRuntime().availableProcessors()), b -> { });
        }

        static int report(PrintWriter out, String what, Convert.Result r) {
            out.printf(Locale.ROOT, "%s: %d file(s), %s in %.2f s -> %s%n", what, r.files().size(), Text.bytes(r.bytes()),
                    r.seconds(), r.out());
            r.notes().forEach(n -> out.println("  note: " + Text.safe(n)));
            var c = r.verify();
            out.printf(Locale.ROOT, "  verified against the source: %d identical, %d within tolerance, %d finding(s)%n",
                    c.count(Verdict.IDENTICAL), c.count(Verdict.WITHIN_TOLERANCE), c.findings());
            c.outcome().tensors().stream().filter(t -> t.verdict().isFinding()).limit(10)
                    .forEach(t -> out.println("  " + Text.safe(t.name()) + ": " + t.verdict().label()));
            c.outcome().checks().stream().filter(t -> t.verdict().isFinding()).limit(10)
                    .forEach(t -> out.println("  " + Text.safe(t.name()) + ": " + t.verdict().label()));
            return r.verified() ? 0 : Main.FINDINGS;
        }
    }

    @Command(name = "to-hf", mixinStandardHelpOptions = true,
            description = "Megatron shards -> HF safetensors (merged, de-interleaved, padding dropped, tied models without lm_head).")
    static final class ToHf implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "SRC", description = "A Megatron iteration folder, its parent, or a step/actor folder.")
        Path src;

        @Mixin
        Output output;

        @Option(names = "--config-from", paramLabel = "HF_DIR",
                description = "Take config.json, tokenizer and generation files from this HF folder (else derive config.json from args).")
        Path configFrom;

        @Option(names = "--dtype", description = "bf16, fp16 or fp32 (default: as stored).")
        String dtype;

        @Option(names = "--max-shard-size", defaultValue = "5GB", description = "Shard the safetensors above this size (default: ${DEFAULT-VALUE}).")
        String maxShard;

        @Override
        public Integer call() {
            DType t = switch (dtype == null ? "" : dtype.toLowerCase(Locale.ROOT)) {
                case "" -> null;
                case "bf16", "bfloat16" -> DType.BF16;
                case "fp16", "f16", "float16" -> DType.F16;
                case "fp32", "f32", "float32" -> DType.F32;
                default -> throw new BadInputException("--dtype takes bf16, fp16 or fp32, not '" + dtype + "'");
            };
            Convert.Result r = Convert.toHf(src, output.target(spec), configFrom, t, size(maxShard), Output.verifier());
            return Output.report(spec.commandLine().getOut(), "to-hf", r);
        }
    }

    /** The expert layout of a Megatron output (MoE models). */
    static final class ExpertOptions {
        @Option(names = "--ep", defaultValue = "1", description = "Expert-parallel size: folders mp_rank_TT_EEE (default: ${DEFAULT-VALUE}).")
        int ep;

        @Option(names = "--etp", defaultValue = "0", description = "Expert tensor-parallel size (default: the TP size).")
        int etp;

        void validate() {
            if (ep < 1 || etp < 0) {
                throw new BadInputException("--ep must be at least 1 and --etp at least 1");
            }
        }
    }

    @Command(name = "to-megatron", mixinStandardHelpOptions = true,
            description = "HF safetensors -> Megatron legacy shards (iter_0000000/mp_rank_*/model_optim_rng.pt).")
    static final class ToMegatron implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "HF_DIR", description = "An HF model folder.")
        Path hf;

        @Mixin
        Output output;

        @Option(names = "--tp", defaultValue = "1", description = "Tensor-parallel size (default: ${DEFAULT-VALUE}).")
        int tp;

        @Option(names = "--pp", defaultValue = "1", description = "Pipeline-parallel size (default: ${DEFAULT-VALUE}).")
        int pp;

        @Option(names = "--spec", defaultValue = "te", description = "Key names: te (Transformer Engine) or local (default: ${DEFAULT-VALUE}).")
        String specName;

        @Option(names = "--pad-vocab", description = "Pad the vocabulary to a multiple of 128 x TP as Megatron-LM does (zeros).")
        boolean padVocab;

        @Option(names = "--release", description = "Write release/ instead of iter_0000000/.")
        boolean release;

        @Mixin
        ExpertOptions experts;

        @Override
        public Integer call() {
            if (tp < 1 || pp < 1) {
                throw new BadInputException("--tp and --pp must be at least 1");
            }
            if (!specName.equals("te") && !specName.equals("local")) {
                throw new BadInputException("--spec takes te or local, not '" + specName + "'");
            }
            experts.validate();
            Convert.Result r = Convert.toMegatron(hf, output.target(spec), new MegatronWriter.Layout(tp, pp,
                    specName.equals("te"), padVocab, experts.ep, experts.etp), release, Output.verifier());
            return Output.report(spec.commandLine().getOut(), "to-megatron", r);
        }
    }

    @Command(name = "reshard", mixinStandardHelpOptions = true,
            description = "Megatron -> Megatron with another TP/PP layout (weights only: optimizer and RNG state are dropped).")
    static final class Reshard implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "ITER_DIR", description = "A Megatron iteration folder or its parent.")
        Path src;

        @Mixin
        Output output;

        @Option(names = "--tp", required = true, description = "New tensor-parallel size.")
        int tp;

        @Option(names = "--pp", required = true, description = "New pipeline-parallel size.")
        int pp;

        @Mixin
        ExpertOptions experts;

        @Override
        public Integer call() {
            if (tp < 1 || pp < 1) {
                throw new BadInputException("--tp and --pp must be at least 1");
            }
            experts.validate();
            Convert.Result r = Convert.reshard(src, output.target(spec), tp, pp, experts.ep, experts.etp, Output.verifier());
            return Output.report(spec.commandLine().getOut(), "reshard", r);
        }
    }

    static long size(String s) {
        String t = s.strip().toUpperCase(Locale.ROOT);
        long mult = 1;
        for (String[] u : new String[][]{{"GIB", "1073741824"}, {"MIB", "1048576"}, {"KIB", "1024"}, {"GB", "1000000000"},
                {"MB", "1000000"}, {"KB", "1000"}, {"B", "1"}}) {
            if (t.endsWith(u[0])) {
                mult = Long.parseLong(u[1]);
                t = t.substring(0, t.length() - u[0].length()).strip();
                break;
            }
        }
        try {
            long v = (long) (Double.parseDouble(t) * mult);
            if (v <= 0) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new BadInputException("--max-shard-size '" + s + "' is not a size like 5GB or 500MB");
        }
    }
}
