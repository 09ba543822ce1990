package dev.ckptdiff.optim;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.megatron.RankShard;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Tensor;

/**
 * Checks one rank folder: per parameter, do the fp32 masters round (to nearest even, bitwise) to the stored
 * weight, as Megatron's main-to-model copy does on the first step after a resume; are {@code exp_avg} and
 * {@code exp_avg_sq} finite, {@code exp_avg_sq >= 0}; and are the gaps between parameters zero. Streams the
 * mapped views element by element: nothing is copied.
 */
public final class MasterCheck {
    static final String EXP_AVG = "exp_avg";
    static final String EXP_AVG_SQ = "exp_avg_sq";

    /** The result for one folder. */
    public record RankCheck(String folder, RankLayout layout, int paramsChecked, long elementsChecked,
                            List<OptimFinding> findings) {
    }

    private final String folder;
    private final RankShard shard;
    /** Where the masters come from when not from this folder's own file, for the messages. */
    private String from = "";
    private final List<OptimFinding> findings = new ArrayList<>();
    private int params;
    private long elements;

    private MasterCheck(String folder, RankShard shard) {
        this.folder = folder;
        this.shard = shard;
    }

    public static RankCheck run(RankShard shard, OptimizerFile file, RankLayout layout) {
        MasterCheck c = new MasterCheck(shard.folder(), shard);
        if (!layout.proven()) {
            c.findings.add(new OptimFinding(OptimFinding.Kind.UNPROVEN, shard.folder(), "", -1, -1,
                    "buffer layout not proven, masters not checked: " + layout.unproven()));
        } else {
            for (int s = 0; s < layout.optimizers().size(); s++) {
                List<BufferState> states = file.optimizers().get(s);
                if (states == null) {
                    continue;
                }
                for (int i = 0; i < states.size(); i++) {
                    c.buffer(layout.optimizers().get(s).get(i), states.get(i));
                }
            }
        }
        return new RankCheck(shard.folder(), layout, c.params, c.elements, List.copyOf(c.findings));
    }

    /**
     * Adds the check of this folder's weights against sub-optimizer {@code sub}'s masters written by another
     * folder of the same TP/PP rank (the DP rank 0 of that optimizer): the weights are replicas of its.
     */
    public static RankCheck borrowed(RankCheck base, RankShard shard, int sub, List<BufferState> states,
                                     String donor) {
        MasterCheck c = new MasterCheck(shard.folder(), shard);
        c.from = "masters in " + donor + "/" + OptimizerFile.NAME + ": ";
        List<GradBuffer> bufs = base.layout().optimizers().get(sub);
        for (int i = 0; i < states.size(); i++) {
            c.buffer(bufs.get(i), states.get(i));
        }
        List<OptimFinding> all = new ArrayList<>(base.findings());
        all.addAll(c.findings);
        return new RankCheck(base.folder(), base.layout(), base.paramsChecked() + c.params,
                base.elementsChecked() + c.elements, List.copyOf(all));
    }

    private void buffer(GradBuffer b, BufferState st) {
        Map<String, Tensor> weights = shard.chunks().get(b.chunk());
        for (GradBuffer.Placement p : b.params()) {
            Tensor w = weights.get(p.name());
            int seg = st.coalesced() ? 0 : p.bucket();
            long off = st.coalesced() ? b.coalescedOffset(p) : p.start() - b.buckets().get(p.bucket()).offset();
            param(p, w, off, segment(st, BufferState.MASTERS, seg), segment(st, EXP_AVG, seg),
                    segment(st, EXP_AVG_SQ, seg));
        }
        gaps(b, st);
    }

    private static MemorySegment segment(BufferState st, String key, int seg) {
        List<Tensor> t = st.tensors().get(key);
        return t == null ? null : t.get(seg).bytes();
    }

    private void param(GradBuffer.Placement p, Tensor w, long off, MemorySegment masters, MemorySegment avg,
                       MemorySegment avgSq) {
        params++;
        long n = p.numel();
        long firstBad = -1;
        long bad = 0;
        float badMaster = 0;
        long firstAvg = -1;
        long firstSq = -1;
        long badAvg = 0;
        long badSq = 0;
        DType dt = w.dtype();
        boolean contiguous = w.isContiguous();
        MemorySegment ws = w.storage();
        long base = w.storageOffset() * dt.size();
        for (long i = 0; i < n; i++) {
            long at = (off + i) * 4;
            float m = f(masters, at);
            long wb = contiguous ? base + i * dt.size() : w.byteOffsetOf(i);
            if (!roundsTo(m, dt, ws, wb)) {
                if (bad++ == 0) {
                    firstBad = i;
                    badMaster = m;
                }
            }
            if (avg != null && !Float.isFinite(f(avg, at)) && badAvg++ == 0) {
                firstAvg = i;
            }
            if (avgSq != null) {
                float v = f(avgSq, at);
                if (!(v >= 0) || v == Float.POSITIVE_INFINITY) {
                    if (badSq++ == 0) {
                        firstSq = i;
                    }
                }
            }
        }
        elements += n;
        if (bad > 0) {
            findings.add(new OptimFinding(OptimFinding.Kind.MASTER_MISMATCH, folder, p.name(), off + firstBad, firstBad,
                    from + "fp32 master " + badMaster + " rounds to " + dt.torchName() + " " + rounded(badMaster, dt)
                            + " but the weight holds " + dt.read(w.storage(), contiguous ? base + firstBad * dt.size()
                            : w.byteOffsetOf(firstBad)) + " (" + bad + " of " + n + " elements differ)"));
        }
        if (badAvg > 0) {
            findings.add(new OptimFinding(OptimFinding.Kind.BAD_MOMENT, folder, p.name(), off + firstAvg, firstAvg,
                    from + "exp_avg is " + f(avg, (off + firstAvg) * 4) + " (" + badAvg + " of " + n
                            + " elements not finite)"));
        }
        if (badSq > 0) {
            findings.add(new OptimFinding(OptimFinding.Kind.BAD_MOMENT, folder, p.name(), off + firstSq, firstSq,
                    from + "exp_avg_sq is " + f(avgSq, (off + firstSq) * 4) + " (" + badSq + " of " + n
                            + " elements not finite or negative)"));
        }
    }

    static float f(MemorySegment seg, long byteOffset) {
        return Float.intBitsToFloat(seg.get(MappedFile.INT_LE, byteOffset));
    }

    /** Bitwise: the master, rounded to nearest even into the weight's dtype, equals the stored bits. */
    static boolean roundsTo(float m, DType dt, MemorySegment ws, long byteOffset) {
        return switch (dt) {
            case BF16 -> {
                short w = ws.get(MappedFile.SHORT_LE, byteOffset);
                yield DType.toBf16(m) == w || (Float.isNaN(m) && Float.isNaN(Float.intBitsToFloat(w << 16)));
            }
            case F16 -> {
                short w = ws.get(MappedFile.SHORT_LE, byteOffset);
                yield Float.floatToFloat16(m) == w || (Float.isNaN(m) && Float.isNaN(Float.float16ToFloat(w)));
            }
            case F32 -> {
                int w = ws.get(MappedFile.INT_LE, byteOffset);
                yield Float.floatToRawIntBits(m) == w || (Float.isNaN(m) && Float.isNaN(Float.intBitsToFloat(w)));
            }
            default -> false;
        };
    }

    private static double rounded(float m, DType dt) {
        return switch (dt) {
            case BF16 -> Float.intBitsToFloat(DType.toBf16(m) << 16);
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(m));
            default -> m;
        };
    }

    /**
     * Alignment gaps inside buckets must hold zeros (Megatron-Core >= 0.7 gathers into zero-filled shards). The
     * older per-bucket form gathered torch.empty shards and had no alignment gaps, so it has nothing to check.
     */
    private void gaps(GradBuffer b, BufferState st) {
        if (!st.coalesced()) {
            return;
        }
        List<GradBuffer.Placement> sorted = b.params().stream().sorted(Comparator.comparingLong(GradBuffer.Placement::start)).toList();
        long fileBase = 0;
        int pi = 0;
        for (int k = 0; k < b.buckets().size(); k++) {
            GradBuffer.Bucket bk = b.buckets().get(k);
            long end = bk.offset() + bk.numelUnpadded();
            long pos = bk.offset();
            while (pos < end) {
                long next = end;
                while (pi < sorted.size() && sorted.get(pi).end() <= pos) {
                    pi++;
                }
                if (pi < sorted.size() && sorted.get(pi).start() <= pos) {
                    pos = sorted.get(pi).end();
                    continue;
                }
                if (pi < sorted.size()) {
                    next = Math.min(end, sorted.get(pi).start());
                }
                for (Map.Entry<String, List<Tensor>> e : st.tensors().entrySet()) {
                    MemorySegment seg = e.getValue().getFirst().bytes();
                    long segBase = fileBase - bk.offset();
                    for (long x = pos; x < next; x++) {
                        float v = f(seg, (segBase + x) * 4);
                        if (v != 0) {
                            findings.add(new OptimFinding(OptimFinding.Kind.GAP_NOT_ZERO, folder, "", segBase + x, -1,
                                    e.getKey() + " holds " + v + " at flat offset " + (segBase + x) + ", a gap between"
                                            + " parameters of " + b.describe() + " bucket " + k
                                            + " that Megatron leaves zero (the layout or the file is wrong)"));
                            break;
                        }
                    }
                }
                pos = next;
            }
            fileBase += bk.numelUnpadded();
        }
    }
}
