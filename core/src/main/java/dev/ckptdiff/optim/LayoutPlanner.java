package dev.ckptdiff.optim;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Recomputes Megatron DDP's grad-buffer layout from the parameter order alone, as
 * {@code DistributedOptimizer._compute_per_buffer_param_layout} (Megatron-Core >= 0.18; the same rules in
 * {@code _ParamAndGradBuffer.__init__} before): parameters in reverse order, starts aligned to 64
 * elements (>= 0.8), a bucket closed once it reaches the bucket size, a shared embedding in a bucket of its
 * own, bucket ends padded to lcm(dp, 128).
 */
public final class LayoutPlanner {

    /** A trainable parameter as {@code named_parameters()} yields it. */
    public record Param(String name, long numel, String dtype, boolean expert, boolean sharedEmbedding) {
    }

    /**
     * @param bucketSize     elements per bucket, or null for one bucket
     * @param alignStarts    64-element parameter starts (Megatron-Core >= 0.8)
     * @param highBusbwPad   {@code ddp_pad_buckets_for_high_nccl_busbw}: ends padded to a multiple of 2^16 too
     */
    public record Settings(Long bucketSize, int denseDp, int expertDp, String gradDtype, boolean alignStarts,
                           boolean highBusbwPad) {
    }

    private LayoutPlanner() {
    }

    /** One model chunk's buffers: dense ones first, then expert-parallel ones, each per dtype pair. */
    public static List<GradBuffer> plan(List<Param> params, int chunk, Settings s) {
        Map<List<String>, List<Param>> groups = new LinkedHashMap<>();
        for (GradBuffer.Kind kind : GradBuffer.Kind.values()) {
            for (Param p : params) {
                if (p.expert() == (kind == GradBuffer.Kind.EXPERT)) {
                    String grad = s.gradDtype() == null ? p.dtype() : s.gradDtype();
                    groups.computeIfAbsent(List.of(kind.name(), p.dtype(), grad), k -> new ArrayList<>()).add(p);
                }
            }
        }
        List<GradBuffer> out = new ArrayList<>();
        for (Map.Entry<List<String>, List<Param>> g : groups.entrySet()) {
            GradBuffer.Kind kind = GradBuffer.Kind.valueOf(g.getKey().get(0));
            int dp = kind == GradBuffer.Kind.EXPERT ? s.expertDp() : s.denseDp();
            out.add(lay(kind, chunk, g.getKey().get(1), g.getKey().get(2), dp, g.getValue(), s));
        }
        return out;
    }

    private static GradBuffer lay(GradBuffer.Kind kind, int chunk, String pdt, String gdt, int dp, List<Param> params,
                                  Settings s) {
        long divisor = lcm(dp, 128);
        if (s.highBusbwPad()) {
            divisor = lcm(divisor, 1L << 16);
        }
        List<GradBuffer.Bucket> buckets = new ArrayList<>();
        List<GradBuffer.Placement> placed = new ArrayList<>();
        long start = 0;
        long bucketStart = 0;
        long end = 0;
        int open = 0; // params in the open bucket
        for (int i = params.size() - 1; i >= 0; i--) {
            Param p = params.get(i);
            if (s.alignStarts()) {
                start = ceil(start, 64);
            }
            if (p.sharedEmbedding() && open > 0) {
                bucketStart = close(buckets, bucketStart, start, divisor);
                open = 0;
                start = bucketStart;
            }
            end = start + p.numel();
            placed.add(new GradBuffer.Placement(p.name(), start, end, buckets.size()));
            open++;
            if ((s.bucketSize() != null && end - bucketStart >= s.bucketSize()) || p.sharedEmbedding()) {
                bucketStart = close(buckets, bucketStart, end, divisor);
                open = 0;
                start = bucketStart;
            } else {
                start = end;
            }
        }
        if (open > 0) {
            close(buckets, bucketStart, end, divisor);
        }
        return new GradBuffer(kind, chunk, pdt, gdt, dp, List.copyOf(buckets), List.copyOf(placed));
    }

    /** Closes the bucket {@code [bucketStart, end)}; returns where the next one starts. */
    private static long close(List<GradBuffer.Bucket> buckets, long bucketStart, long end, long divisor) {
        long padded = ceil(end, divisor);
        buckets.add(new GradBuffer.Bucket(bucketStart, end - bucketStart, padded - bucketStart));
        return padded;
    }

    private static long ceil(long v, long d) {
        return (v + d - 1) / d * d;
    }

    private static long lcm(long a, long b) {
        long x = a;
        long y = b;
        while (y != 0) {
            long t = x % y;
            x = y;
            y = t;
        }
        return a / x * b;
    }
}
