package dev.ckptdiff.torchdist;

import dev.ckptdiff.tensor.Shapes;

/** One chunk of a global tensor as the index records it: its global offsets and sizes, and its storage. */
public record ChunkMeta(long[] offsets, long[] sizes, StorageInfo where) {
    /** The chunk as a slice of the global tensor, e.g. {@code [2, 64:128, 0:64]}. */
    public String slice() {
        StringBuilder b = new StringBuilder("[");
        for (int d = 0; d < offsets.length; d++) {
            b.append(d == 0 ? "" : ", ").append(offsets[d]);
            if (sizes[d] != 1) {
                b.append(':').append(offsets[d] + sizes[d]);
            }
        }
        return b.append(']').toString();
    }

    public long numel() {
        return Shapes.numel(sizes);
    }
}
