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
        if (pieces.size() == 1) { // nearly every tensor: no set to build
            return Set.of(pieces.getFirst().src().dtype());
        }
        Set<DType> s = new LinkedHashSet<>();
        for (Piece p : pieces) {
            s.add(p.src().dtype());
        }
        return s;
    }

    /** The first piece's dtype (the only one, unless pieces were saved in different types). */
    public DType dtype() {
        return pieces.getFirst().src().dtype();
    }

    /** True when every piece holds floating-point values. */
    public boolean floatingPoint() {
        for (Piece p : pieces) {
            if (!p.src().dtype().isFloatingPoint()) {
                return false;
            }
        }
        return true;
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
