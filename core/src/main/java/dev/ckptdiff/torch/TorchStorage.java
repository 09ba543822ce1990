package dev.ckptdiff.torch;

import java.lang.foreign.MemorySegment;

import dev.ckptdiff.tensor.DType;

/**
 * One storage of a torch.save archive: the bytes of entry {@code data/<key>}, typed as the pickle
 * says. An untyped storage (torch.storage.UntypedStorage) counts bytes; its tensors give the dtype.
 */
public record TorchStorage(String key, DType dtype, boolean untyped, String location, long numel,
                           MemorySegment bytes) {
}
