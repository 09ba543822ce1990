package dev.ckptdiff.torch;

import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Tensor;

/** A tensor in a pickle, before it has a name: which storage, and how it views it. */
public record TorchTensor(TorchStorage storage, DType dtype, long storageOffset, long[] shape, long[] stride) {

    public Tensor named(String name, String origin) {
        return new Tensor(name, dtype, shape, stride, storage.bytes(), storageOffset, origin);
    }
}
