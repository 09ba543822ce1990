package dev.ckptdiff.diff;

/**
 * Where a piece of a compared tensor lives: the copy, the file (for Megatron, the rank folder), the
 * key in that file, and for fused tensors which part (q, k, v, gate, up).
 */
public record Source(String copy, String file, String key, String part) {
    public String describe() {
        return file + " " + key + (part.isEmpty() ? "" : " [" + part + "]");
    }
}
