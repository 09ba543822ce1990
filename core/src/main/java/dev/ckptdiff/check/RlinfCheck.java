package dev.ckptdiff.check;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.BadInputException;

/**
 * The rules RLinf's documentation gives for Megatron training (FORMATS.md section 9), then the HF
 * model the config points to, checked against its config and against the configured layout.
 * Findings name the YAML key and the fix.
 */
public final class RlinfCheck {
    private RlinfCheck() {
    }

    public static List<Section> run(Path yaml) {
        RlinfConfig c = RlinfConfig.read(yaml);
        Section s = new Section("RLinf config", yaml.toString());
        List<Section> out = new ArrayList<>();
        out.add(s);
        String backend = safe(s, c, "actor.training_backend");
        String task = safe(s, c, "runner.task_type");
        s.facts().put("actor.training_backend", String.valueOf(backend));
        s.facts().put("runner.task_type", String.valueOf(task));
        if (backend == null || !backend.equals("megatron")) {
            s.findings().add(Finding.warning("actor.training_backend", "is " + backend + ", not megatron: the Megatron rules"
                    + " and layout checks do not apply to this run"));
        } else {
            megatronRules(s, c);
        }
        boolean sft = "sft".equals(task);
        String hfKey = sft ? "actor.model.model_path" : "actor.megatron.ckpt_convertor.hf_model_path";
        if (!c.has(hfKey) && c.has("actor.model.model_path")) {
            hfKey = "actor.model.model_path";
        }
        String hfPath = safe(s, c, hfKey);
        if (hfPath == null) {
            s.findings().add(Finding.error(hfKey, "no HF model path: " + (sft ? "SFT" : "reasoning/RL") + " runs read it from "
                    + hfKey + "; set it to the HF model folder"));
            return out;
        }
        Path hf = c.path(hfKey, hfPath);
        s.facts().put("HF model", hf + " (" + hfKey + ")");
        String tokenizer = safe(s, c, "actor.tokenizer.tokenizer_model");
        if (tokenizer != null && !c.path("actor.tokenizer.tokenizer_model", tokenizer).equals(hf)) {
            s.findings().add(Finding.warning("actor.tokenizer.tokenizer_model", "is " + tokenizer + " but the model is "
                    + hfPath + " (" + hfKey + "): the tokenizer should come from the same folder; set"
                    + " actor.tokenizer.tokenizer_model: " + hfPath));
        }
        if (!Files.isDirectory(hf) || !HfCheckpoint.isHf(hf)) {
            s.findings().add(Finding.error(hfKey, hf + (Files.exists(hf) ? " is not an HF model folder (config.json +"
                    + " safetensors)" : " does not exist") + (hfPath.equals(c.raw(hfKey).asText()) ? ""
                    : " (resolved from " + c.raw(hfKey).asText() + ")")));
            return out;
        }
        try (HfCheckpoint model = HfCheckpoint.open(hf)) {
            Section hfSection = HfCheck.run(model);
            out.add(hfSection);
            ModelSpec spec = ModelSpec.of(model.config(), hf.resolve("config.json").toString());
            String type = safe(s, c, "actor.model.model_type");
            boolean qwen3vl = spec.family() == ModelSpec.Family.QWEN3_VL || "qwen3_vl".equals(type);
            if (qwen3vl && Boolean.TRUE.equals(safeBool(s, c, "actor.model.apply_rope_fusion"))) {
                s.findings().add(Finding.error("actor.model.apply_rope_fusion", "is True, but Qwen3-VL's multimodal RoPE does"
                        + " not work with the fused kernel: set actor.model.apply_rope_fusion: False"));
            }
            if ("megatron".equals(backend)) {
                LayoutCheck.Layout layout = new LayoutCheck.Layout(intOr(s, c, "actor.model.tensor_model_parallel_size"),
                        intOr(s, c, "actor.model.pipeline_model_parallel_size"),
                        intOr(s, c, "actor.model.virtual_pipeline_model_parallel_size"),
                        intOr(s, c, "actor.model.expert_model_parallel_size"));
                out.add(LayoutCheck.run(spec, layout, LayoutCheck.Names.RLINF));
            }
        }
        return out;
    }

    private static void megatronRules(Section s, RlinfConfig c) {
        Boolean mbridge = safeBool(s, c, "actor.megatron.mbridge");
        if (!Boolean.TRUE.equals(mbridge)) {
            s.findings().add(Finding.warning("actor.megatron.mbridge", "is " + (mbridge == null ? "not set" : yaml(mbridge))
                    + ": Megatron training in RLinf converts HF weights through Megatron-Bridge; set"
                    + " actor.megatron.mbridge: True"));
        }
        Boolean useHf = safeBool(s, c, "actor.megatron.use_hf_ckpt");
        String ckpt = safe(s, c, "actor.model.megatron_checkpoint");
        boolean hasCkpt = ckpt != null && !ckpt.equals("null");
        if (Boolean.TRUE.equals(useHf) && hasCkpt) {
            s.findings().add(Finding.error("actor.model.megatron_checkpoint", "model.megatron_checkpoint should be None if"
                    + " use_hf_ckpt is True (it is " + ckpt + "): set actor.model.megatron_checkpoint: null"));
        }
        if (!Boolean.TRUE.equals(useHf)) {
            String resume = safe(s, c, "runner.resume_dir");
            boolean hasResume = resume != null && !resume.equals("null");
            if (!hasCkpt && !hasResume) {
                s.findings().add(Finding.error("actor.megatron.use_hf_ckpt", "use_hf_ckpt is " + (useHf == null ? "not set"
                        : yaml(useHf)) + ", so training starts"
                        + " from a Megatron checkpoint, but neither actor.model.megatron_checkpoint nor runner.resume_dir is"
                        + " set: set one of them, or set actor.megatron.use_hf_ckpt: True"));
            }
        }
    }

    /** Booleans as RLinf configs spell them. */
    private static String yaml(boolean b) {
        return b ? "True" : "False";
    }

    /**
     * A value read with {@code read}, or null when the key is unresolvable or malformed: that becomes
     * an ERROR finding on the key, so that one bad setting does not hide the other rules.
     */
    private static <T> T read(Section s, String key, java.util.function.Function<String, T> read) {
        try {
            return read.apply(key);
        } catch (BadInputException e) {
            s.findings().add(Finding.error(key, e.getMessage().substring(e.getMessage().indexOf(": ") + 2)));
            return null;
        }
    }

    private static String safe(Section s, RlinfConfig c, String key) {
        return read(s, key, c::text);
    }

    private static Boolean safeBool(Section s, RlinfConfig c, String key) {
        return read(s, key, c::bool);
    }

    /** A parallel size; absent or unreadable means 1 (not split). */
    private static int intOr(Section s, RlinfConfig c, String key) {
        Integer v = read(s, key, c::integer);
        return v == null ? 1 : v;
    }
}
