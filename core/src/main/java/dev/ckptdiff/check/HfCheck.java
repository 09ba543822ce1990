package dev.ckptdiff.check;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.megatron.LayerNumbering;
import dev.ckptdiff.tensor.Shapes;
import dev.ckptdiff.tensor.Tensor;

/**
 * An HF folder against its own config.json, from the safetensors headers only: the tensors the
 * config implies, the tensors the files hold, and for every disagreement the likely cause.
 */
public final class HfCheck {
    private static final int LIST_LIMIT = 12;

    private HfCheck() {
    }

    public static Section run(HfCheckpoint hf) {
        Section s = new Section("HF model", hf.dir().toString());
        ModelSpec spec = ModelSpec.of(hf.config(), hf.dir().resolve("config.json").toString());
        Map<String, Tensor> actual = hf.tensors();
        ExpectedTensors.Convention best = null;
        ExpectedTensors.Selection selection = null;
        Map<String, ExpectedTensors.Expected> expected = null;
        long bestHits = -1;
        for (ExpectedTensors.Convention c : ExpectedTensors.conventions(spec)) {
            ExpectedTensors.Selection sel = ExpectedTensors.selection(spec, c, actual.keySet());
            Map<String, ExpectedTensors.Expected> e = ExpectedTensors.of(spec, c, sel);
            long hits = e.keySet().stream().filter(actual::containsKey).count();
            if (hits > bestHits) {
                bestHits = hits;
                best = c;
                selection = sel;
                expected = e;
            }
        }
        s.facts().put("architecture", spec.family().id);
        s.facts().put("key layout", best.name());
        ModelSpec.Text t = spec.text();
        s.facts().put("text model", t.layers() + " layers, hidden " + t.hidden().value() + ", heads " + t.heads().value()
                + "/" + t.kvHeads().value() + " KV, head_dim " + t.headDim().value() + ", intermediate "
                + t.intermediate().value() + ", vocab " + t.vocab().value() + (spec.tied() ? ", tied embeddings" : ""));
        if (spec.moe() != null) {
            s.facts().put("experts", spec.moe().experts().value() + " × intermediate " + spec.moe().intermediate().value()
                    + ", every " + spec.moe().sparseStep() + " layer(s)" + (spec.moe().mlpOnlyLayers().isEmpty() ? ""
                    : ", dense layers " + spec.moe().mlpOnlyLayers()) + ", top-" + spec.moe().topk());
            if (spec.moe().topk() > spec.moe().experts().value()) {
                s.findings().add(Finding.error("num_experts_per_tok", spec.moe().topk() + " > " + spec.moe().expertsKey()
                        + " " + spec.moe().experts().value() + ": the router cannot pick more experts than there are"));
            }
        }
        if (spec.vision() != null) {
            ModelSpec.Vision v = spec.vision();
            s.facts().put("vision tower", v.depth() + " blocks, hidden " + v.hidden().value() + ", out " + v.out().value()
                    + (v.deepstack().isEmpty() ? "" : ", deepstack " + v.deepstack()));
        }

        if (selection.bounded()) {
            reportUnlisted(s, spec, selection);
        }
        List<String> missing = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        for (ExpectedTensors.Expected e : expected.values()) {
            Tensor a = actual.get(e.name());
            if (a == null) {
                missing.add(e.name());
            } else if (!java.util.Arrays.equals(a.shape(), e.shape())) {
                s.findings().add(Finding.error(e.name(), shapeMessage(e, a.shape())));
            }
        }
        for (String name : actual.keySet()) {
            if (!expected.containsKey(name)) {
                unexpected.add(name);
            }
        }
        reportWholeUnits(s, missing, expected.keySet(), "missing entirely", spec, best);
        reportWholeUnits(s, unexpected, actual.keySet(), "present", spec, best);
        reportMissing(s, missing, spec);
        reportUnexpected(s, unexpected, spec, best);

        long params = 0;
        Map<String, long[]> dtypes = new TreeMap<>();
        for (Tensor a : actual.values()) {
            params += a.numel();
            long[] c = dtypes.computeIfAbsent(a.dtype().name(), k -> new long[2]);
            c[0]++;
            c[1] += a.numel();
        }
        long implied = ExpectedTensors.parameters(expected);
        s.facts().put("parameters", selection.bounded()
                ? String.format(Locale.ROOT, "%,d in the files; config.json claims more tensors than can be listed", params)
                : String.format(Locale.ROOT, "%,d in the files, %,d implied by config.json", params, implied));
        StringBuilder d = new StringBuilder();
        dtypes.forEach((k, v) -> d.append(d.isEmpty() ? "" : ", ").append(k).append(": ").append(v[0]).append(" tensors"));
        s.facts().put("dtypes", d.toString());
        String majority = dtypes.entrySet().stream().max(Map.Entry.comparingByValue((x, y) -> Long.compare(x[1], y[1])))
                .map(Map.Entry::getKey).orElse("");
        String configDtype = switch (spec.configDtype()) {
            case "bfloat16" -> "BF16";
            case "float16" -> "F16";
            case "float32" -> "F32";
            default -> "";
        };
        if (!configDtype.isEmpty() && !majority.isEmpty() && !configDtype.equals(majority)) {
            s.findings().add(Finding.warning("dtype", "config.json says " + spec.configDtype() + " but most weights are "
                    + majority + ": loaders that trust torch_dtype will convert"));
        }
        return s.coalesced();
    }

    /**
     * Layers, experts and vision blocks a huge config claims but the files lack, one finding each
     * (counted from the numbers the files hold, never listed one by one).
     */
    private static void reportUnlisted(Section s, ModelSpec spec, ExpectedTensors.Selection sel) {
        long layers = spec.text().layers();
        LayerNumbering.describeMissing(sel.layers(), layers, "config.json num_hidden_layers=" + layers, "files", "layer")
                .ifPresent(m -> s.findings().add(Finding.error("layers", m)));
        if (spec.moe() != null) {
            long e = spec.moe().experts().value();
            LayerNumbering.describeMissing(sel.experts(), e, "config.json " + spec.moe().expertsKey() + "=" + e, "files",
                    "expert").ifPresent(m -> s.findings().add(Finding.error("experts", m)));
        }
        if (spec.vision() != null) {
            long d = spec.vision().depth();
            LayerNumbering.describeMissing(sel.blocks(), d, "config.json vision_config.depth=" + d, "files", "vision block")
                    .ifPresent(m -> s.findings().add(Finding.error("vision blocks", m)));
        }
    }

    static String shapeMessage(ExpectedTensors.Expected e, long[] actual) {
        String shortName = e.name().substring(e.name().lastIndexOf('.', e.name().lastIndexOf('.') - 1) + 1)
                .replace(".weight", "").replace(".bias", " bias");
        if (actual.length != e.dims().length) {
            return shortName + " has shape " + Shapes.toString(actual) + ", config implies " + Shapes.toString(e.shape())
                    + ": config.json and weights disagree";
        }
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < actual.length; i++) {
            if (actual[i] != e.dims()[i].value()) {
                String what = actual.length == 1 ? "elements" : i == 0 ? "rows" : i == 1 && actual.length == 2 ? "columns"
                        : "size " + actual[i] + " in dim " + i;
                parts.add((what.startsWith("size") ? what : actual[i] + " " + what) + ", config implies "
                        + e.dims()[i].value() + " = " + e.dims()[i].why());
            }
        }
        return shortName + " has " + String.join("; ", parts) + ": config.json and weights disagree";
    }

    /** The unit a name belongs to: everything up to its last number (a layer, block or expert). */
    private static final java.util.regex.Pattern UNIT = java.util.regex.Pattern.compile("^(.*\\.\\d+)\\.[^\\d][^.]*(\\.[^\\d][^.]*)*$");

    static String unit(String name) {
        java.util.regex.Matcher m = UNIT.matcher(name);
        return m.matches() ? m.group(1) : null;
    }

    /**
     * Units of which every tensor is in {@code names} (a whole layer missing, a whole extra block)
     * become one finding per unit pattern; their tensors are then taken out of {@code names}.
     */
    private static void reportWholeUnits(Section s, List<String> names, java.util.Collection<String> universe, String what,
                                         ModelSpec spec, ExpectedTensors.Convention c) {
        Map<String, List<String>> byUnit = new LinkedHashMap<>();
        for (String n : names) {
            String u = unit(n);
            if (u != null) {
                byUnit.computeIfAbsent(u, k -> new ArrayList<>()).add(n);
            }
        }
        Map<String, Long> unitSizes = new java.util.HashMap<>();
        if (!byUnit.isEmpty()) {
            for (String n : universe) {
                String u = unit(n);
                if (u != null && byUnit.containsKey(u)) {
                    unitSizes.merge(u, 1L, Long::sum);
                }
            }
        }
        Map<String, List<String>> wholeByPattern = new LinkedHashMap<>();
        java.util.Set<String> whole = new java.util.HashSet<>();
        for (Map.Entry<String, List<String>> e : byUnit.entrySet()) {
            long inUniverse = unitSizes.getOrDefault(e.getKey(), 0L);
            if (e.getValue().size() > 1 && e.getValue().size() == inUniverse) {
                wholeByPattern.computeIfAbsent(e.getKey().replaceAll("\\.\\d+(?=\\.|$)", ".N"), k -> new ArrayList<>())
                        .add(e.getKey());
                whole.addAll(e.getValue());
            }
        }
        names.removeIf(whole::contains);
        for (Map.Entry<String, List<String>> g : wholeByPattern.entrySet()) {
            List<String> units = g.getValue();
            String subject = (units.size() == 1 ? units.getFirst() : g.getKey()) + ".*";
            String which = units.size() == 1 ? "" : " (" + list(units) + ")";
            if (what.equals("present")) {
                boolean beyond = units.stream().allMatch(u -> u.startsWith(c.lm() + "layers.")
                        && layerOf(u + ".x", c.lm()) >= spec.text().layers());
                s.findings().add(Finding.error(subject, units.size() + " unexpected unit(s)" + which + (beyond
                        ? ": num_hidden_layers is " + spec.text().layers() + ", so config.json and weights disagree"
                        : ": not part of the " + spec.family().id + " layout config.json describes")));
            } else {
                s.findings().add(Finding.error(subject, units.size() + " unit(s) missing entirely" + which
                        + causeOfMissing(g.getKey() + ".x", spec)));
            }
        }
    }

    /** Groups names that differ only in their layer/block/expert numbers. */
    static Map<String, List<String>> byPattern(List<String> names) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        for (String n : names) {
            out.computeIfAbsent(n.replaceAll("\\.\\d+\\.", ".N."), k -> new ArrayList<>()).add(n);
        }
        return out;
    }

    /** One finding per tensor; {@link Section#coalesced()} merges those that differ only in numbers. */
    private static void reportMissing(Section s, List<String> missing, ModelSpec spec) {
        for (String name : missing) {
            s.findings().add(Finding.error(name, "missing" + causeOfMissing(name.replaceAll("(?<=\\.)\\d+(?=\\.)", "N"), spec)));
        }
    }

    private static String causeOfMissing(String pattern, ModelSpec spec) {
        if (pattern.endsWith("lm_head.weight")) {
            return ": tie_word_embeddings is false, so the output layer must be saved (or set tie_word_embeddings: true)";
        }
        if (pattern.contains("q_norm") || pattern.contains("k_norm")) {
            return ": " + spec.family().id + " always has q/k norms";
        }
        if (pattern.contains("_proj.bias") && spec.text().qkvBias() && !pattern.contains("visual")) {
            return ": " + spec.family().id + (spec.family() == ModelSpec.Family.LLAMA ? " with attention_bias true" : "")
                    + " has QKV biases";
        }
        if (pattern.contains("deepstack_merger_list")) {
            return ": vision_config.deepstack_visual_indexes has " + spec.vision().deepstack().size() + " entries";
        }
        if (pattern.contains("experts.N") && spec.moe() != null) {
            return ": " + spec.moe().expertsKey() + " is " + spec.moe().experts().value();
        }
        if (pattern.contains("layers.N") && !pattern.contains("visual")) {
            return ": num_hidden_layers is " + spec.text().layers();
        }
        if (pattern.contains("blocks.N") && spec.vision() != null) {
            return ": vision_config.depth is " + spec.vision().depth();
        }
        return "";
    }

    private static void reportUnexpected(Section s, List<String> unexpected, ModelSpec spec, ExpectedTensors.Convention c) {
        long layers = spec.text().layers();
        for (Map.Entry<String, List<String>> g : byPattern(unexpected).entrySet()) {
            List<String> names = g.getValue();
            String first = names.getFirst();
            if (first.equals(c.lmHead() + "weight") && spec.tied()) {
                s.findings().add(Finding.warning(first, "saved although tie_word_embeddings is true: it must equal the"
                        + " embedding (ckpt-diff PATH compares them)"));
                continue;
            }
            if (first.startsWith(c.lm() + "layers.")) {
                long beyond = names.stream().filter(n -> layerOf(n, c.lm()) >= layers).count();
                if (beyond == names.size()) {
                    s.findings().add(Finding.error(g.getKey(), "present for layers " + range(names, c.lm())
                            + " but num_hidden_layers is " + layers + ": config.json and weights disagree"));
                    continue;
                }
            }
            if (first.endsWith("rotary_emb.inv_freq")) {
                s.findings().add(Finding.info(g.getKey(), "a rotary buffer older transformers saved; ignored by loaders"));
                continue;
            }
            s.findings().add(Finding.error(g.getKey(), (names.size() == 1 ? "unexpected: " : "unexpected in " + names.size()
                    + " places (" + list(names) + "): ") + "not part of the " + spec.family().id + " layout config.json describes"));
        }
    }

    private static long layerOf(String name, String lm) {
        String rest = name.substring((lm + "layers.").length());
        int dot = rest.indexOf('.');
        try {
            return Long.parseLong(dot < 0 ? rest : rest.substring(0, dot));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static String range(List<String> names, String lm) {
        long lo = names.stream().mapToLong(n -> layerOf(n, lm)).min().orElse(-1);
        long hi = names.stream().mapToLong(n -> layerOf(n, lm)).max().orElse(-1);
        return lo == hi ? Long.toString(lo) : lo + ".." + hi;
    }

    private static String list(List<String> names) {
        List<String> shown = names.subList(0, Math.min(LIST_LIMIT, names.size()));
        return String.join(", ", shown) + (names.size() > LIST_LIMIT ? ", ... " + (names.size() - LIST_LIMIT) + " more" : "");
    }
}
