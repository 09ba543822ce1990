package dev.ckptdiff.optim;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.megatron.RankShard;
import dev.ckptdiff.tensor.Tensor;

/**
 * What one {@code distrib_optim.pt} holds: its sub-optimizers and buffers, and, when the rank folder's
 * {@code model_optim_rng.pt} is beside it, which parameter lies where (with the layout proof). Reads pickles
 * only.
 */
public record OptimizerInspection(Path file, long bytes, boolean chained, List<Buffer> buffers, String unproven,
                                  List<String> proof, List<Row> params) {

    /** One buffer as the file stores it; {@code written} false where this rank is not DP rank 0 of the optimizer. */
    public record Buffer(int optimizer, boolean written, int gbufIdx, String dtypes, String form, long numelUnpadded,
                         List<String> keys) {
    }

    /** Where one parameter's state lies: {@code flatOffset} in the file tensor (or its bucket's, per-bucket form). */
    public record Row(String name, int optimizer, int buffer, int bucket, long flatOffset, long numel, String shape) {
    }

    /** {@code path}: a {@code distrib_optim.pt}, or the rank folder holding it. */
    public static OptimizerInspection of(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve(OptimizerFile.NAME) : path;
        try (OptimizerFile opt = OptimizerFile.open(file)) {
            List<Buffer> buffers = new ArrayList<>();
            for (int s = 0; s < opt.optimizers().size(); s++) {
                List<BufferState> states = opt.optimizers().get(s);
                if (states == null) {
                    buffers.add(new Buffer(s, false, -1, "", "", 0, List.of()));
                    continue;
                }
                for (BufferState b : states) {
                    buffers.add(new Buffer(s, true, b.gbufIdx(), b.dtypes(), b.coalesced() ? "coalesced"
                            : "per bucket (" + b.perBucketUnpadded().size() + " buckets)", b.numelUnpadded(),
                            List.copyOf(b.tensors().keySet())));
                }
            }
            Path model = file.resolveSibling(MegatronCheckpoint.FILE);
            if (!Files.isRegularFile(model)) {
                return new OptimizerInspection(file, opt.fileSize(), opt.chained(), buffers,
                        "no " + MegatronCheckpoint.FILE + " beside it: the parameter order is unknown", List.of(), List.of());
            }
            try (MegatronCheckpoint ckpt = MegatronCheckpoint.open(model)) {
                RankShard shard = ckpt.shards().getFirst();
                RankLayout layout = RankLayout.of(ckpt.args(), shard, opt);
                return new OptimizerInspection(file, opt.fileSize(), opt.chained(), buffers, layout.unproven(),
                        layout.proof(), layout.proven() ? rows(layout, shard, opt) : List.of());
            }
        }
    }

    private static List<Row> rows(RankLayout layout, RankShard shard, OptimizerFile opt) {
        List<Row> out = new ArrayList<>();
        for (int s = 0; s < layout.optimizers().size(); s++) {
            List<GradBuffer> bufs = layout.optimizers().get(s);
            List<BufferState> states = opt.optimizers().get(s);
            for (int i = 0; i < bufs.size(); i++) {
                GradBuffer b = bufs.get(i);
                boolean coalesced = states == null || states.get(i).coalesced();
                Map<String, Tensor> weights = shard.chunks().get(b.chunk());
                for (GradBuffer.Placement p : b.params()) {
                    long off = coalesced ? b.coalescedOffset(p) : p.start() - b.buckets().get(p.bucket()).offset();
                    Tensor w = weights.get(p.name());
                    out.add(new Row(p.name(), s, i, p.bucket(), states == null ? -1 : off, p.numel(),
                            w == null ? "?" : w.shapeString()));
                }
            }
        }
        return out;
    }
}
