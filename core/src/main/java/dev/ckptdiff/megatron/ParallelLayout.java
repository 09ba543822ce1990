package dev.ckptdiff.megatron;

/** Tensor, pipeline, virtual-pipeline and expert parallel sizes. */
public record ParallelLayout(int tp, int pp, int vpp, int ep) {
    public String describe() {
        return "TP=" + tp + " PP=" + pp + (vpp > 1 ? " VPP=" + vpp : "") + (ep > 1 ? " EP=" + ep : "");
    }
}
