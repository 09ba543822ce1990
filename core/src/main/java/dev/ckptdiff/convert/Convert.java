package dev.ckptdiff.convert;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffJob;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.ModelView;
import dev.ckptdiff.diff.Views;
import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.locate.Copy;
import dev.ckptdiff.locate.Locator;
import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Architectures;
import dev.ckptdiff.tensor.DType;

/**
 * The converters: Megatron → HF, HF → Megatron, Megatron → Megatron (another layout). Each writes
 * into a temporary folder, reads its output back and compares it with the source through the main
 * job's own comparison, and only then moves the output into place.
 */
public final class Convert {
    /** What a conversion did, and what reading it back found. */
    public record Result(Path out, List<Path> files, long bytes, double seconds, Comparison verify, List<String> notes) {
        public boolean verified() {
            return verify.findings() == 0;
        }
    }

    private Convert() {
    }

    static Copy copyOf(Path p, Copy.Kind kind) {
        for (Locator.Role r : Locator.roles(p)) {
            Copy c = r.find(kind);
            if (c != null) {
                return c;
            }
        }
        throw BadInputException.in(p, "holds no " + (kind == Copy.Kind.HF ? "HF model" : "Megatron checkpoint"));
    }

    public static Result toHf(Path src, Path out, Path configFrom, DType dtype, long maxShardBytes, boolean force,
                              Differ verifier) {
        long t0 = System.nanoTime();
        Copy source = copyOf(src, Copy.Kind.MEGATRON);
        List<String> notes = new ArrayList<>();
        try (MegatronSource m = MegatronSource.open(source.path())) {
            JsonNode config = configFrom != null ? HfCheckpoint.readJson(configFrom.resolve("config.json")) : null;
            Architecture arch = config != null ? Architectures.fromConfig(config, configFrom + "/config.json")
                    : Architectures.fromArgs(m.args());
            ModelView view = m.view(arch, config);
            long vocab = config != null ? (config.has("text_config") ? config.get("text_config") : config).path("vocab_size").asLong(-1)
                    : m.args().getLong("vocab_size", -1);
            if (vocab < 0) {
                vocab = m.args().getLong("padded_vocab_size", -1);
                notes.add("no vocab_size in args or --config-from: kept all " + vocab + " rows, padding included");
            }
            long bytes = HfWriter.bytes(view, vocab, dtype);
            try (OutputFolder folder = OutputFolder.create(out, force, bytes)) {
                List<Path> files = HfWriter.write(view, vocab, dtype, maxShardBytes, folder.dir());
                ObjectNode cfg = config != null ? (ObjectNode) config.deepCopy()
                        : derivedConfig(m, arch, vocab);
                if (dtype != null) {
                    cfg.put("torch_dtype", dtype.torchName());
                }
                HfWriter.writeJson(folder.dir().resolve("config.json"), cfg);
                if (configFrom != null) {
                    List<String> copied = HfWriter.copyCompanions(configFrom, folder.dir());
                    if (!copied.isEmpty()) {
                        notes.add("copied from " + configFrom + ": " + String.join(", ", copied));
                    }
                } else {
                    notes.add("config.json derived from args; no tokenizer files (pass --config-from HF_DIR)");
                }
                return finish(folder, source, new Copy(Copy.Kind.HF, folder.dir(), "HF output"), files, t0, verifier, notes);
            }
        }
    }

    private static ObjectNode derivedConfig(MegatronSource m, Architecture arch, long vocab) {
        ModelFacts f = ModelFacts.of(m.args(), m.numLayers(), vocab);
        ObjectNode c = HfWriter.JSON.createObjectNode();
        String cls = switch (arch.name()) {
            case "qwen2" -> "Qwen2ForCausalLM";
            case "qwen3" -> "Qwen3ForCausalLM";
            default -> "LlamaForCausalLM";
        };
        c.putArray("architectures").add(cls);
        c.put("model_type", arch.name());
        c.put("hidden_size", f.hidden());
        c.put("intermediate_size", f.ffn());
        c.put("num_hidden_layers", f.layers());
        c.put("num_attention_heads", f.heads());
        c.put("num_key_value_heads", f.groups());
        c.put("head_dim", f.headDim());
        c.put("vocab_size", vocab);
        c.put("tie_word_embeddings", f.tied());
        c.put("rms_norm_eps", f.normEps());
        c.put("rope_theta", f.ropeTheta());
        c.put("max_position_embeddings", f.maxPositions());
        c.put("hidden_act", "silu");
        if (arch.name().equals("llama")) {
            c.put("attention_bias", f.qkvBias());
        }
        c.put("torch_dtype", m.args().getString("params_dtype").orElse("torch.bfloat16").replace("torch.", ""));
        return c;
    }

    public static Result toMegatron(Path hfDir, Path out, MegatronWriter.Layout layout, boolean release, boolean force,
                                    Differ verifier) {
        long t0 = System.nanoTime();
        Copy source = copyOf(hfDir, Copy.Kind.HF);
        try (HfCheckpoint hf = HfCheckpoint.open(source.path())) {
            Architecture arch = Architectures.fromConfig(hf.config(), source.path() + "/config.json");
            ModelFacts facts = ModelFacts.of(hf.config(), source.path() + "/config.json");
            ModelView view = Views.hf(hf, "source");
            return writeMegatron(view, arch, facts, layout, release, out, force, source, t0, verifier, new ArrayList<>());
        }
    }

    public static Result reshard(Path src, Path out, int tp, int pp, boolean force, Differ verifier) {
        long t0 = System.nanoTime();
        Copy source = copyOf(src, Copy.Kind.MEGATRON);
        try (MegatronSource m = MegatronSource.open(source.path())) {
            Architecture arch = Architectures.fromArgs(m.args());
            ModelView view = m.view(arch, null);
            long rows = view.tensors().entrySet().stream().filter(e -> e.getKey().endsWith("embed_tokens.weight"))
                    .mapToLong(e -> e.getValue().rows()).findFirst().orElse(-1);
            ModelFacts facts = ModelFacts.of(m.args(), m.numLayers(), m.args().getLong("vocab_size", rows));
            boolean te = m.args().getString("transformer_impl").map(s -> s.contains("transformer_engine")).orElse(true);
            List<String> notes = new ArrayList<>(List.of("weights only: optimizer state, RNG state and scheduler are not carried over"));
            return writeMegatron(view, arch, facts, new MegatronWriter.Layout(tp, pp, te, rows % tp != 0), false, out,
                    force, source, t0, verifier, notes);
        }
    }

    private static Result writeMegatron(ModelView view, Architecture arch, ModelFacts facts, MegatronWriter.Layout layout,
                                        boolean release, Path out, boolean force, Copy source, long t0, Differ verifier,
                                        List<String> notes) {
        try (OutputFolder folder = OutputFolder.create(out, force, MegatronWriter.bytes(view))) {
            String iteration = release ? "release" : "iter_0000000";
            Path iterDir = folder.dir().resolve(iteration);
            List<Path> files = MegatronWriter.write(view, arch, facts, layout, iterDir);
            try {
                Files.writeString(folder.dir().resolve("latest_checkpointed_iteration.txt"), release ? "release" : "0");
            } catch (IOException e) {
                throw new BadInputException(folder.dir() + ": cannot write the tracker file: " + e.getMessage());
            }
            return finish(folder, source, new Copy(Copy.Kind.MEGATRON, iterDir, "Megatron output"), files, t0, verifier, notes);
        }
    }

    private static Result finish(OutputFolder folder, Copy source, Copy output, List<Path> files, long t0, Differ verifier,
                                 List<String> notes) {
        long written = System.nanoTime();
        long bytes = 0;
        for (Path f : files) {
            try {
                bytes += Files.size(f);
            } catch (IOException e) {
                throw new BadInputException(f + ": cannot be read back: " + e.getMessage());
            }
        }
        Comparison cmp = DiffJob.compare(new DiffJob.Pair(source, output), verifier, x -> { });
        notes.add(String.format(java.util.Locale.ROOT, "written and flushed to disk in %.2f s, read back and compared in %.2f s",
                (written - t0) / 1e9, (System.nanoTime() - written) / 1e9));
        List<Path> finalFiles = files.stream().map(f -> folder.target().resolve(folder.dir().relativize(f))).toList();
        if (cmp.findings() == 0) {
            folder.commit();
        } else {
            folder.keep();
            notes.add("verification failed: the output stays in " + folder.dir() + " for inspection");
        }
        return new Result(cmp.findings() == 0 ? folder.target() : folder.dir(), finalFiles, bytes,
                (System.nanoTime() - t0) / 1e9, cmp, notes);
    }
}
