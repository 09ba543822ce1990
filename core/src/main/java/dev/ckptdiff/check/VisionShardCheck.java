package dev.ckptdiff.check;

import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.HfKeyLayout;
import dev.ckptdiff.mapping.Split;
import dev.ckptdiff.mapping.VisionTowers;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.megatron.RankShard;
import dev.ckptdiff.tensor.Shapes;
import dev.ckptdiff.tensor.Tensor;

/**
 * A vision-language model's Megatron shards against config.json: Megatron-Bridge builds the vision
 * tower on the first pipeline stage only, whole on every TP rank (split like any column/row-parallel
 * layer where it is Megatron's own), and the deepstack features enter the first language layers, which
 * must be on that stage too.
 */
final class VisionShardCheck {
    private VisionShardCheck() {
    }

    static void run(Section s, MegatronCheckpoint m, Architecture arch, JsonNode config) {
        ModelSpec spec = ModelSpec.of(config, "config.json");
        if (spec.vision() == null) {
            return;
        }
        int tp = m.layout().tp();
        // The table's HF names are in one layout; the expected tensors are made in that one.
        HfKeyLayout layout = HfKeyLayout.of(arch.rules().stream().flatMap(r -> r.hf().stream()).toList());
        Map<String, ExpectedTensors.Expected> expected = ExpectedTensors.of(spec, ExpectedTensors.conventions(spec).getFirst());
        Map<String, ExpectedTensors.Expected> vision = new java.util.LinkedHashMap<>();
        expected.forEach((name, e) -> {
            String n = layout.apply(name);
            if (n.startsWith("visual.") || n.startsWith("model.visual.")) {
                vision.put(n, e);
            }
        });
        for (RankShard shard : m.shards()) {
            TreeSet<String> held = new TreeSet<>();
            for (int c = 0; c < shard.chunks().size(); c++) {
                for (Tensor t : shard.chunks().get(c).values()) {
                    if (!VisionTowers.isVision(t.name())) {
                        continue;
                    }
                    if (shard.ppRank() > 0 || c > 0) {
                        s.findings().add(Finding.error(shard.folder() + " " + t.name(), "a vision tower tensor on pipeline"
                                + " stage " + shard.ppRank() + (c > 0 ? " chunk " + c : "") + "; Megatron-Bridge builds the"
                                + " vision tower on the first stage only"));
                        continue;
                    }
                    Optional<Architecture.Match> match = arch.match(t.name());
                    if (match.isEmpty()) {
                        continue; // reported with the other unmapped keys
                    }
                    String hf = match.get().hfNames().getFirst();
                    held.add(hf);
                    ExpectedTensors.Expected e = vision.get(hf);
                    if (e == null) {
                        s.findings().add(Finding.error(shard.folder() + " " + t.name(), "becomes " + hf + ", which"
                                + " config.json's vision_config does not imply (depth " + spec.vision().depth()
                                + ", deepstack " + spec.vision().deepstack() + ")"));
                        continue;
                    }
                    long[] want = perRank(e.shape(), match.get().rule().split(), tp);
                    if (!Arrays.equals(want, t.shape())) {
                        s.findings().add(Finding.error(shard.folder() + " " + t.name(), "shape " + t.shapeString()
                                + ", but config.json implies " + Shapes.toString(e.shape()) + " for the whole tensor, so "
                                + Shapes.toString(want) + " on each of TP=" + tp + " ranks ("
                                + match.get().rule().split().name().toLowerCase(java.util.Locale.ROOT) + ")"));
                    }
                }
            }
            if (shard.ppRank() == 0) {
                TreeSet<String> lack = new TreeSet<>(vision.keySet());
                lack.removeAll(held);
                if (!lack.isEmpty()) {
                    s.findings().add(Finding.error(shard.folder(), "the first pipeline stage lacks " + lack.size()
                            + " vision tower tensor(s) config.json implies, e.g. " + lack.first()));
                }
            }
        }
        int deepstack = spec.vision().deepstack().size();
        long firstStage = firstStageLayers(m, arch);
        if (deepstack > firstStage) {
            s.findings().add(Finding.error("deepstack", "config.json's deepstack_visual_indexes "
                    + spec.vision().deepstack() + " feed " + deepstack + " deepstack features into language layers 0.."
                    + (deepstack - 1) + ", but the first pipeline stage holds " + firstStage + " layer(s)"));
        }
        s.facts().put("vision tower", spec.vision().depth() + " blocks on stage 0" + (deepstack > 0
                ? ", " + deepstack + " deepstack mergers feeding layers 0.." + (deepstack - 1) : ""));
    }

    private static long[] perRank(long[] hf, Split split, int tp) {
        long[] s = hf.clone();
        switch (split) {
            case COLUMN, HEAD_QKV, VOCAB -> s[0] /= tp;
            case ROW -> s[1] /= tp;
            default -> {
            }
        }
        return s;
    }

    /** Language layers in the first stage's first chunk (where the vision tower's output enters). */
    private static long firstStageLayers(MegatronCheckpoint m, Architecture arch) {
        RankShard first = m.shards().getFirst();
        TreeSet<Integer> layers = new TreeSet<>();
        for (String k : first.chunks().getFirst().keySet()) {
            if (!VisionTowers.isVision(k)) {
                arch.match(m.globalKey(first, 0, k)).filter(x -> x.rule().megatron().contains("{L}"))
                        .ifPresent(x -> layers.add(x.layer()));
            }
        }
        return layers.size();
    }
}
