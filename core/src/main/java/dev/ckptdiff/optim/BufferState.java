package dev.ckptdiff.optim;

import java.util.List;
import java.util.Map;

import dev.ckptdiff.tensor.Tensor;

/**
 * One grad buffer's optimizer state as {@code distrib_optim.pt} holds it, for one dtype pair: fp32
 * {@code param} (the masters), {@code exp_avg}, {@code exp_avg_sq}, ... as mapped views. Coalesced (Megatron-Core
 * >= 0.7): one tensor per key, bucket-end padding stripped. Per bucket (older): a list of padded bucket tensors.
 *
 * @param numelUnpadded the file's {@code numel_unpadded}, or the sum of {@code per_bucket_numel_unpadded}
 * @param perBucketUnpadded the older form's per-bucket sizes (empty for the coalesced form)
 */
public record BufferState(int gbufIdx, String paramDtype, String gradDtype, boolean coalesced, long numelUnpadded,
                          List<Long> perBucketUnpadded, Map<String, List<Tensor>> tensors) {

    public static final String MASTERS = "param";

    /** Elements per key as stored (all buckets together). */
    public long storedNumel() {
        List<Tensor> t = tensors.get(MASTERS);
        return t == null ? 0 : t.stream().mapToLong(Tensor::numel).sum();
    }

    public String dtypes() {
        return "(" + paramDtype + ", " + gradDtype + ")";
    }
}
