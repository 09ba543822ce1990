package dev.ckptdiff.convert;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffJob;
import dev.ckptdiff.diff.Differ;
import dev.ckptdiff.diff.ModelView;
import dev.ckptdiff.diff.Views;
import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.InputPaths;
import dev.ckptdiff.locate.Copy;
import dev.ckptdiff.locate.Locator;
import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Architectures;
import dev.ckptdiff.mapping.HfKeyLayout;
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

    public static Result toHf(Path src, OutputFolder.Target out, Path configFrom, DType dtype, long maxShardBytes,
                              Differ verifier) {
        long t0 = System.nanoTime();
        Copy source = copyOf(src, Copy.Kind.MEGATRON);
        InputPaths inputs = InputPaths.of(src, source.path(), configFrom);
        inputs.refuseOverlap("--out", out.path()); // before anything is read: a mistake here costs a checkpoint
        List<String> notes = new ArrayList<>();
        try (MegatronSource m = MegatronSource.open(source.path())) {
            JsonNode config = configFrom != null ? HfCheckpoint.readConfig(configFrom.resolve("config.json")) : null;
            Architecture arch = config != null ? Architectures.fromConfig(config, configFrom + "/config.json")
                    : m.architecture();
            if (config == null && Architectures.isVision(arch)) {
                throw new BadInputException(source.path() + ": a " + arch.name() + " checkpoint's args do not describe its"
                        + " vision tower; pass --config-from HF_DIR (a folder with its config.json)");
            }
            ModelView view = m.view(arch, config);
            long vocab = config != null ? (config.has("text_config") ? config.get("text_config") : config).path("vocab_size").asLong(-1)
                    : m.args().getLong("vocab_size", -1);
            if (vocab < 0) {
                vocab = m.args().getLong("padded_vocab_size", -1);
                notes.add("no vocab_size in args or --config-from: kept all " + vocab + " rows, padding included");
            }
            ObjectNode cfg = config != null ? (ObjectNode) config.deepCopy() : derivedConfig(m, arch, vocab);
            Map<String, long[]> shapes = HfWriter.shapes(view, vocab);
            ConfigShapes.refuseMismatches(shapes, cfg, config != null ? configFrom + "/config.json"
                    : "the args of " + source.path());
            // The shards must also agree with the args they were trained with (args do not describe a vision tower:
            // for vision-language models --config-from alone gives the shapes).
            if (config != null && !Architectures.isVision(arch)) {
                ConfigShapes.refuseMismatches(shapes, derivedConfig(m, arch, vocab), "the args of " + source.path());
            }
            long bytes = HfWriter.bytes(view, vocab, dtype);
            try (OutputFolder folder = OutputFolder.create(out, inputs, bytes)) {
                List<Path> files = HfWriter.write(view, vocab, dtype, maxShardBytes, folder.dir());
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
            case "qwen3_moe" -> "Qwen3MoeForCausalLM";
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
        ModelFacts.Experts x = f.experts();
        if (x.present()) {
            c.put("num_experts", x.count());
            c.put("moe_intermediate_size", x.ffn());
            c.put("num_experts_per_tok", x.topk());
            c.put("norm_topk_prob", x.normTopk());
            c.put("decoder_sparse_step", 1);
            var dense = c.putArray("mlp_only_layers");
            for (int l = 0; l < x.layerFreq().size(); l++) {
                if (x.layerFreq().get(l) == 0) {
                    dense.add(l);
                }
            }
        }
        c.put("torch_dtype", m.args().getString("params_dtype").orElse("torch.bfloat16").replace("torch.", ""));
        return c;
    }

    public static Result toMegatron(Path hfDir, OutputFolder.Target out, MegatronWriter.Layout layout, boolean release,
                                    Differ verifier) {
        long t0 = System.nanoTime();
        Copy source = copyOf(hfDir, Copy.Kind.HF);
        InputPaths inputs = InputPaths.of(hfDir, source.path());
        inputs.refuseOverlap("--out", out.path());
        try (HfCheckpoint hf = HfCheckpoint.open(source.path())) {
            String configName = source.path() + "/config.json";
            Architecture arch = Architectures.fromConfig(hf.config(), configName);
            ModelFacts facts = ModelFacts.of(hf.config(), configName);
            ModelView view = Views.hf(hf, "source");
            ConfigShapes.refuseMismatches(shapesOf(view), hf.config(), configName);
            if (Architectures.isVision(arch)) { // the table names one of the two VL key layouts
                view = view.inLayout(HfKeyLayout.of(arch.rules().stream().flatMap(r -> r.hf().stream()).toList()));
            }
            return writeMegatron(view, arch, facts, Views.Dims.vision(hf.config()), layout, release, out, inputs, source,
                    t0, verifier, new ArrayList<>());
        }
    }

    public static Result reshard(Path src, OutputFolder.Target out, int tp, int pp, Differ verifier) {
        return reshard(src, out, tp, pp, 1, 0, verifier);
    }

    /** {@code ep}, {@code etp}: the new expert layout (ETP 0: follow TP). */
    public static Result reshard(Path src, OutputFolder.Target out, int tp, int pp, int ep, int etp, Differ verifier) {
        long t0 = System.nanoTime();
        Copy source = copyOf(src, Copy.Kind.MEGATRON);
        InputPaths inputs = InputPaths.of(src, source.path());
        inputs.refuseOverlap("--out", out.path());
        try (MegatronSource m = MegatronSource.open(source.path())) {
            Architecture arch = m.architecture();
            ModelView view = m.view(arch, null);
            long rows = view.tensors().entrySet().stream().filter(e -> e.getKey().endsWith("embed_tokens.weight"))
                    .mapToLong(e -> e.getValue().rows()).findFirst().orElse(-1);
            ModelFacts facts = ModelFacts.of(m.args(), m.numLayers(), m.args().getLong("vocab_size", rows));
            if (!Architectures.isVision(arch)) { // args do not describe a vision tower
                ConfigShapes.refuseMismatches(HfWriter.shapes(view, -1), derivedConfig(m, arch, rows),
                        "the args of " + source.path());
            }
            boolean te = m.args().getString("transformer_impl").map(s -> s.contains("transformer_engine")).orElse(true);
            List<String> notes = new ArrayList<>(List.of("weights only: optimizer state, RNG state and scheduler are not carried over"));
            return writeMegatron(view, arch, facts, Views.Dims.vision(null), new MegatronWriter.Layout(tp, pp, te,
                    rows % tp != 0, ep, etp), false, out, inputs, source, t0, verifier, notes);
        }
    }

    private static Result writeMegatron(ModelView view, Architecture arch, ModelFacts facts, Views.Dims vision,
                                        MegatronWriter.Layout layout, boolean release, OutputFolder.Target out,
                                        InputPaths inputs, Copy source, long t0, Differ verifier, List<String> notes) {
        try (OutputFolder folder = OutputFolder.create(out, inputs, MegatronWriter.bytes(view, layout))) {
            String iteration = release ? "release" : "iter_0000000";
            Path iterDir = folder.dir().resolve(iteration);
            List<Path> files = MegatronWriter.write(view, arch, facts, vision, layout, iterDir);
            try {
                Files.writeString(folder.dir().resolve("latest_checkpointed_iteration.txt"), release ? "release" : "0");
            } catch (IOException e) {
                throw new BadInputException(folder.dir() + ": cannot write the tracker file: " + e.getMessage());
            }
            return finish(folder, source, new Copy(Copy.Kind.MEGATRON, iterDir, "Megatron output"), files, t0, verifier, notes);
        }
    }

    private static Map<String, long[]> shapesOf(ModelView view) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        view.tensors().forEach((n, a) -> shapes.put(n, a.shape()));
        return shapes;
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
