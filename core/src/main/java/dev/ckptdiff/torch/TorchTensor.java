package dev.ckptdiff.torch;

import java.util.Arrays;
import java.util.Comparator;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Tensor;

/**
 * A tensor in a pickle, before it has a name: which storage, and how it views it. The reader has
 * checked that its element and byte counts fit a long and that every element it reaches is stored.
 */
public record TorchTensor(TorchStorage storage, DType dtype, long storageOffset, long[] shape, long[] stride) {
    /**
     * Views that reach elements more than once (torch's {@code expand}: stride 0) are read element by
     * element; past this many elements, and more than the storage holds, the work would no longer be
     * bounded by what the file holds (2 bytes can stand for 2^62 elements), so they are refused.
     */
    public static final long MAX_EXPANDED_ELEMENTS = 1L << 24;

    public long numel() {
        long n = 1;
        for (long d : shape) {
            n *= d; // checked by the reader
        }
        return n;
    }

    /** Elements the storage holds in this tensor's dtype. */
    public long storedElements() {
        return storage.byteSize() / dtype.size();
    }

    /**
     * True when some element is reached twice (a stride of 0 on a dimension longer than 1, or strides
     * that interleave): an expanded view, whose elements are not all stored.
     */
    public boolean expanded() {
        Integer[] dims = new Integer[shape.length];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = i;
        }
        Arrays.sort(dims, Comparator.comparingLong(d -> stride[d]));
        long extent = 0; // the furthest element the smaller strides reach
        for (int d : dims) {
            if (shape[d] > 1) {
                if (stride[d] <= extent) {
                    return true;
                }
                extent += (shape[d] - 1) * stride[d];
            }
        }
        return false;
    }

    /** Whether reading it element by element costs more than the elements actually stored, and a lot. */
    public boolean tooExpanded() {
        long n = numel();
        return n > MAX_EXPANDED_ELEMENTS && n > storedElements();
    }

    /** This view as a named tensor; refused when it is an expansion too large to read element by element. */
    public Tensor named(String name, String origin) {
        if (tooExpanded()) {
            throw new BadInputException(storage.archive() + ": " + name + ": expanded view: " + numel()
                    + " elements over " + storage.byteSize() + " bytes of storage; not supported");
        }
        return new Tensor(name, dtype, shape, stride, storage.bytes(), storageOffset, origin);
    }
}
