package dev.ckptdiff.diff;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import dev.ckptdiff.tensor.DType;

/**
 * A tensor under its HF name and shape, put together (without copying) from pieces of one or more
 * source tensors. {@code paddedRows}: rows beyond the other side's count are vocabulary padding.
 */
public record Assembled(String name, long[] shape, List<Piece> pieces, boolean paddedRows) {

    public static Assembled single(String name, Piece p) {
        return new Assembled(name, p.src().shape(), List.of(p), false);
    }

    public Set<DType> dtypes() {
        Set<DType> s = new LinkedHashSet<>();
        pieces.forEach(p -> s.add(p.src().dtype()));
        return s;
    }

    public String dtypeString() {
        Set<DType> d = dtypes();
        return d.size() == 1 ? d.iterator().next().name() : d.toString();
    }

    public long rows() {
        return Piece.rowsOf(shape);
    }

    public long cols() {
        return Piece.colsOf(shape);
    }

    /** A Megatron key that no mapping rule renamed (its name is still Megatron's). */
    public boolean isUnmappedMegatronKey() {
        return name.startsWith("decoder.") || name.startsWith("embedding.") || name.startsWith("output_layer")
                || name.contains(".decoder.");
    }
}
