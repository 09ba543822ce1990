package dev.ckptdiff.check;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.stream.LongStream;

import dev.ckptdiff.check.ModelSpec.Dim;

/**
 * The HF tensors a config implies, with shapes whose every dimension says where it comes from.
 * Vision-language models have been saved under two key conventions by different transformers
 * releases; both are generated and the caller keeps the one the file uses.
 */
public final class ExpectedTensors {
    public record Expected(String name, Dim[] dims) {
        public long[] shape() {
            long[] s = new long[dims.length];
            for (int i = 0; i < s.length; i++) {
                s[i] = dims[i].value();
            }
            return s;
        }

        public long numel() {
            long n = 1;
            for (Dim d : dims) {
                n *= d.value();
            }
            return n;
        }
    }

    /**
     * Which layers, experts and vision blocks to spell out; null means all the config claims. Claims
     * too large to list ({@link #LIST_LIMIT}) are checked only where the files hold something.
     */
    public record Selection(SortedSet<Long> layers, SortedSet<Long> experts, SortedSet<Long> blocks) {
        public static final Selection ALL = new Selection(null, null, null);

        public boolean bounded() {
            return layers != null;
        }
    }

    /** Expected tensors that are listed one by one; a config claiming more is bounded by the files. */
    static final double LIST_LIMIT = 200_000;

    /** All of what the config claims when that is small, else what {@code names} (the files' tensors) number. */
    public static Selection selection(ModelSpec spec, Convention c, Collection<String> names) {
        ModelSpec.Text t = spec.text();
        double perLayer = 20 + (spec.moe() == null ? 0 : 3.0 * spec.moe().experts().value());
        double claimed = t.layers() * perLayer + (spec.vision() == null ? 0 : 20.0 * spec.vision().depth());
        if (claimed <= LIST_LIMIT) {
            return Selection.ALL;
        }
        SortedSet<Long> layers = new TreeSet<>();
        SortedSet<Long> experts = new TreeSet<>();
        SortedSet<Long> blocks = new TreeSet<>();
        for (String n : names) {
            if (n.startsWith(c.lm() + "layers.")) {
                number(n, c.lm() + "layers.").ifPresent(layers::add);
                number(n, ".mlp.experts.").ifPresent(experts::add);
            } else if (c.vision() != null && n.startsWith(c.vision() + "blocks.")) {
                number(n, c.vision() + "blocks.").ifPresent(blocks::add);
            }
        }
        return new Selection(layers, experts, blocks);
    }

    /** The number right after {@code marker} in a name, followed by a dot. */
    private static Optional<Long> number(String name, String marker) {
        int at = name.indexOf(marker);
        if (at < 0) {
            return Optional.empty();
        }
        int i = at + marker.length();
        int end = name.indexOf('.', i);
        if (end <= i || end - i > 18) {
            return Optional.empty();
        }
        for (int k = i; k < end; k++) {
            if (name.charAt(k) < '0' || name.charAt(k) > '9') {
                return Optional.empty();
            }
        }
        return Optional.of(Long.parseLong(name.substring(i, end)));
    }

    /** {@code 0..count-1}, or the selected numbers below {@code count}. */
    private static Iterable<Long> upTo(long count, SortedSet<Long> selected) {
        return selected != null ? selected.headSet(count) : () -> LongStream.range(0, count).iterator();
    }

    /** Where the language model and the vision tower live in the key space. */
    public record Convention(String name, String lm, String lmHead, String vision) {
    }

    private ExpectedTensors() {
    }

    public static List<Convention> conventions(ModelSpec spec) {
        if (!spec.family().isVision()) {
            return List.of(new Convention("model.*", "model.", "lm_head.", null));
        }
        return List.of(new Convention("model.* + visual.* (older layout)", "model.", "lm_head.", "visual."),
                new Convention("model.language_model.* + model.visual.*", "model.language_model.", "lm_head.", "model.visual."));
    }

    /** Every tensor the config claims (for writers, which need them all; checks bound theirs with a selection). */
    public static Map<String, Expected> of(ModelSpec spec, Convention c) {
        return of(spec, c, Selection.ALL);
    }

    public static Map<String, Expected> of(ModelSpec spec, Convention c, Selection sel) {
        Map<String, Expected> out = new LinkedHashMap<>();
        ModelSpec.Text t = spec.text();
        Dim h = t.hidden();
        put(out, c.lm() + "embed_tokens.weight", t.vocab(), h);
        for (long l : upTo(t.layers(), sel.layers())) {
            String p = c.lm() + "layers." + l + ".";
            put(out, p + "input_layernorm.weight", h);
            put(out, p + "post_attention_layernorm.weight", h);
            put(out, p + "self_attn.q_proj.weight", t.qRows(), h);
            put(out, p + "self_attn.k_proj.weight", t.kvRows(), h);
            put(out, p + "self_attn.v_proj.weight", t.kvRows(), h);
            put(out, p + "self_attn.o_proj.weight", h, t.qRows());
            if (t.qkvBias()) {
                put(out, p + "self_attn.q_proj.bias", t.qRows());
                put(out, p + "self_attn.k_proj.bias", t.kvRows());
                put(out, p + "self_attn.v_proj.bias", t.kvRows());
            }
            if (t.oBias()) {
                put(out, p + "self_attn.o_proj.bias", h);
            }
            if (t.qkNorm()) {
                put(out, p + "self_attn.q_norm.weight", t.headDim());
                put(out, p + "self_attn.k_norm.weight", t.headDim());
            }
            if (spec.moe() != null && spec.moe().isMoeLayer(l)) {
                ModelSpec.Moe m = spec.moe();
                put(out, p + "mlp.gate.weight", m.experts(), h);
                for (long e : upTo(m.experts().value(), sel.experts())) {
                    String x = p + "mlp.experts." + e + ".";
                    put(out, x + "gate_proj.weight", m.intermediate(), h);
                    put(out, x + "up_proj.weight", m.intermediate(), h);
                    put(out, x + "down_proj.weight", h, m.intermediate());
                }
            } else {
                put(out, p + "mlp.gate_proj.weight", t.intermediate(), h);
                put(out, p + "mlp.up_proj.weight", t.intermediate(), h);
                put(out, p + "mlp.down_proj.weight", h, t.intermediate());
                if (t.mlpBias()) {
                    put(out, p + "mlp.gate_proj.bias", t.intermediate());
                    put(out, p + "mlp.up_proj.bias", t.intermediate());
                    put(out, p + "mlp.down_proj.bias", h);
                }
            }
        }
        put(out, c.lm() + "norm.weight", h);
        if (!spec.tied()) {
            put(out, c.lmHead() + "weight", t.vocab(), h);
        }
        if (spec.vision() != null) {
            vision(out, spec, c.vision(), sel);
        }
        return out;
    }

    private static void vision(Map<String, Expected> out, ModelSpec spec, String v, Selection sel) {
        ModelSpec.Vision x = spec.vision();
        Dim vh = x.hidden();
        Dim three = new Dim(3 * vh.value(), "3 × vision hidden_size " + vh.value());
        Dim merged = x.merged();
        boolean qwen3 = spec.family() == ModelSpec.Family.QWEN3_VL;
        put(out, v + "patch_embed.proj.weight", vh, new Dim(x.inChannels(), "in_channels"),
                new Dim(x.temporalPatch(), "temporal_patch_size"), new Dim(x.patch(), "patch_size"), new Dim(x.patch(), "patch_size"));
        if (qwen3) {
            put(out, v + "patch_embed.proj.bias", vh);
            put(out, v + "pos_embed.weight", x.positions(), vh);
        }
        for (long b : upTo(x.depth(), sel.blocks())) {
            String p = v + "blocks." + b + ".";
            put(out, p + "norm1.weight", vh);
            put(out, p + "norm2.weight", vh);
            if (qwen3) { // LayerNorm, where Qwen2.5-VL has RMSNorm
                put(out, p + "norm1.bias", vh);
                put(out, p + "norm2.bias", vh);
            }
            put(out, p + "attn.qkv.weight", three, vh);
            put(out, p + "attn.qkv.bias", three);
            put(out, p + "attn.proj.weight", vh, vh);
            put(out, p + "attn.proj.bias", vh);
            if (qwen3) {
                put(out, p + "mlp.linear_fc1.weight", x.intermediate(), vh);
                put(out, p + "mlp.linear_fc1.bias", x.intermediate());
                put(out, p + "mlp.linear_fc2.weight", vh, x.intermediate());
                put(out, p + "mlp.linear_fc2.bias", vh);
            } else {
                put(out, p + "mlp.gate_proj.weight", x.intermediate(), vh);
                put(out, p + "mlp.gate_proj.bias", x.intermediate());
                put(out, p + "mlp.up_proj.weight", x.intermediate(), vh);
                put(out, p + "mlp.up_proj.bias", x.intermediate());
                put(out, p + "mlp.down_proj.weight", vh, x.intermediate());
                put(out, p + "mlp.down_proj.bias", vh);
            }
        }
        if (qwen3) {
            put(out, v + "merger.norm.weight", vh);
            put(out, v + "merger.norm.bias", vh);
            merger(out, v + "merger.", merged, x.out());
            for (int i = 0; i < x.deepstack().size(); i++) {
                String p = v + "deepstack_merger_list." + i + ".";
                put(out, p + "norm.weight", merged);
                put(out, p + "norm.bias", merged);
                merger(out, p, merged, x.out());
            }
        } else {
            put(out, v + "merger.ln_q.weight", vh);
            put(out, v + "merger.mlp.0.weight", merged, merged);
            put(out, v + "merger.mlp.0.bias", merged);
            put(out, v + "merger.mlp.2.weight", x.out(), merged);
            put(out, v + "merger.mlp.2.bias", x.out());
        }
    }

    private static void merger(Map<String, Expected> out, String p, Dim merged, Dim outDim) {
        put(out, p + "linear_fc1.weight", merged, merged);
        put(out, p + "linear_fc1.bias", merged);
        put(out, p + "linear_fc2.weight", outDim, merged);
        put(out, p + "linear_fc2.bias", outDim);
    }

    private static void put(Map<String, Expected> out, String name, Dim... dims) {
        out.put(name, new Expected(name, dims));
    }

    /** The expected total parameter count. */
    public static long parameters(Map<String, Expected> expected) {
        long n = 0;
        for (Expected e : expected.values()) {
            n += e.numel();
        }
        return n;
    }
}
