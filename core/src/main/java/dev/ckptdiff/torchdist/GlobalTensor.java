package dev.ckptdiff.torchdist;

import java.util.List;

import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Shapes;

/** A key of the checkpoint: its global (TP/PP-independent) shape and dtype, and the chunks that hold it. */
public record GlobalTensor(String key, DType dtype, long[] shape, List<ChunkMeta> chunks) {
    public String shapeString() {
        return Shapes.toString(shape);
    }
}
