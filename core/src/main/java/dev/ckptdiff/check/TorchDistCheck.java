package dev.ckptdiff.check;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.megatron.MegatronArgs;
import dev.ckptdiff.tensor.Shapes;
import dev.ckptdiff.torchdist.GlobalTensor;
import dev.ckptdiff.torchdist.TorchDistCheckpoint;
import dev.ckptdiff.torchdist.TorchDistViews;

/**
 * A torch_dist checkpoint against its own common-state {@code args} (global shapes are TP=1 shapes,
 * stacked keys lead with the layer count) and, in a step folder, args against config.json. The
 * reader has already checked that every key's chunks cover it exactly once.
 */
public final class TorchDistCheck {
    private static final String STACK = "decoder.layers.";

    private TorchDistCheck() {
    }

    public static Section run(TorchDistCheckpoint d, Architecture arch, JsonNode hfConfig) {
        Section s = new Section("Megatron torch_dist checkpoint", d.dir().toString());
        MegatronArgs a = d.args();
        s.facts().put("iteration", d.savedIteration().map(String::valueOf).orElse("?") + " (" + d.iteration() + ")");
        s.facts().put("layout", d.index().tensors().size() + " keys in " + d.chunks().values().stream()
                .mapToInt(List::size).sum() + " chunks, " + d.files().size() + " .distcp files, " + d.numLayers() + " layers");
        s.facts().put("mapping table", arch.name());
        Optional<Long> saved = d.savedIteration();
        if (saved.isPresent() && d.iteration().matches("iter_\\d+") && Long.parseLong(d.iteration().substring(5)) != saved.get()) {
            s.findings().add(Finding.error("iteration", "the common state says " + saved.get() + " but the folder is "
                    + d.iteration()));
        }
        if (d.common().isEmpty() || a.getLong("hidden_size").isEmpty()) {
            s.findings().add(Finding.warning("args", "the common state holds no args (Megatron-Bridge keeps the model"
                    + " config in run_config.yaml): shapes not checked against args"));
            return s.coalesced();
        }
        ArgDims dims = ArgDims.of(a);
        long layers = a.getLong("num_layers", -1);
        long experts = a.getLong("num_experts", -1);
        List<String> unmapped = new ArrayList<>();
        for (GlobalTensor g : d.index().tensors().values()) {
            int lead = Math.min(TorchDistViews.leadingAxes(g.key()), g.shape().length);
            boolean stacked = TorchDistViews.stacked(g.key()) && lead > 0;
            String key = lead == 0 ? g.key() : TorchDistViews.name(g.key(), new long[lead]);
            long[] shape = Arrays.copyOfRange(g.shape(), lead, g.shape().length);
            if (stacked && layers >= 0 && g.shape()[0] != layers) {
                s.findings().add(Finding.error(g.key(), "stacks " + g.shape()[0] + " layers, but args.num_layers is " + layers));
            }
            if (TorchDistViews.experts(g.key()) && lead == (stacked ? 2 : 1) && experts >= 0
                    && g.shape()[lead - 1] != experts) {
                s.findings().add(Finding.error(g.key(), "holds " + g.shape()[lead - 1] + " experts, but args.num_experts is "
                        + experts));
            }
            Optional<Architecture.Match> match = arch.match(key);
            if (match.isEmpty()) {
                unmapped.add(g.key());
                continue;
            }
            long[] expected = MegatronCheck.globalShape(match.get(), key, a, dims);
            if (expected != null && !Arrays.equals(expected, shape)) {
                s.findings().add(Finding.error(g.key(), "global shape " + g.shapeString() + ", but args (" + dims.describe()
                        + (TorchDistViews.experts(g.key()) ? ", moe_ffn_hidden_size " + a.getLong("moe_ffn_hidden_size", -1) : "")
                        + ") imply " + Shapes.toString(prepend(Arrays.copyOf(g.shape(), lead), expected))));
            }
        }
        if (!unmapped.isEmpty()) {
            s.findings().add(Finding.warning("mapping", unmapped.size() + " keys are not in the " + arch.name()
                    + " table and were not shape-checked (e.g. " + unmapped.getFirst() + ")"));
        }
        MegatronCheck.argsAgainstConfig(s, a, arch, hfConfig, dims.paddedVocab());
        return s.coalesced();
    }

    private static long[] prepend(long[] lead, long[] rest) {
        long[] out = Arrays.copyOf(lead, lead.length + rest.length);
        System.arraycopy(rest, 0, out, lead.length, rest.length);
        return out;
    }
}
