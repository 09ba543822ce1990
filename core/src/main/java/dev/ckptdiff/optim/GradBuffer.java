package dev.ckptdiff.optim;

import java.util.List;

/**
 * One of Megatron's contiguous grad buffers as DDP lays it out: which parameters it holds, where, and
 * in which buckets. {@code chunk} is the virtual-pipeline model chunk.
 */
public record GradBuffer(Kind kind, int chunk, String paramDtype, String gradDtype, int dpSize, List<Bucket> buckets,
                         List<Placement> params) {

    /** Dense parameters are reduced over DP x CP; expert-parallel ones over the expert-DP group. */
    public enum Kind { DENSE, EXPERT }

    /** {@code offset}: where the bucket starts in the padded buffer; {@code numel}: padded to the DP divisor. */
    public record Bucket(long offset, long numelUnpadded, long numel) {
    }

    /** A parameter's range {@code [start, end)} in the padded buffer. */
    public record Placement(String name, long start, long end, int bucket) {
        public long numel() {
            return end - start;
        }
    }

    /** Elements the buffer holds once every bucket's end padding is stripped (what the file stores). */
    public long numelUnpadded() {
        long n = 0;
        for (Bucket b : buckets) {
            n += b.numelUnpadded();
        }
        return n;
    }

    /**
     * Where a parameter's first element lies in the coalesced file tensor: bucket-end padding is stripped
     * there but intra-bucket gaps are kept, so the earlier buckets count with their unpadded sizes.
     */
    public long coalescedOffset(Placement p) {
        long before = 0;
        for (int b = 0; b < p.bucket(); b++) {
            before += buckets.get(b).numelUnpadded();
        }
        return p.start() - buckets.get(p.bucket()).offset() + before;
    }

    /** Human name, e.g. {@code dense (bfloat16, float32)}. */
    public String describe() {
        return kind.name().toLowerCase(java.util.Locale.ROOT) + (chunk > 0 ? " chunk " + chunk : "")
                + " (" + paramDtype + ", " + gradDtype + ")";
    }
}
