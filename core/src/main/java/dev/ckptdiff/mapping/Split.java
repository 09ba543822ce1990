package dev.ckptdiff.mapping;

/** How one Megatron parameter is split across tensor-parallel ranks, and how it maps to HF tensors. */
public enum Split {
    /** The same full tensor on every rank; ranks must agree. */
    REPLICATED,
    /** Concatenated along dim 0 (column-parallel). */
    COLUMN,
    /** Concatenated along dim 1 (row-parallel). */
    ROW,
    /** Column-parallel vocabulary, possibly padded past the HF vocabulary. */
    VOCAB,
    /** Fused QKV: per query group, its query heads then one key and one value head -> q, k, v. */
    QKV,
    /** Gated fc1: each rank holds [gate_r; up_r] -> gate, up. */
    GATE_UP,
    /**
     * Fused QKV with one group per head (a vision tower's attention), stored per head [q_h; k_h; v_h]
     * and column-split by whole heads -> HF's single [Q; K; V] tensor.
     */
    HEAD_QKV
}
