package dev.ckptdiff.torch;

import java.lang.foreign.MemorySegment;
import java.util.function.Supplier;

import dev.ckptdiff.tensor.DType;

/**
 * One storage of a torch.save archive: the bytes of entry {@code data/<key>}, typed as the pickle
 * says. An untyped storage (torch.storage.UntypedStorage) counts bytes; its tensors give the dtype.
 * The bytes are fetched on first use: a compressed entry is inflated only when its data is read.
 */
public final class TorchStorage {
    private final String archive;
    private final String key;
    private final DType dtype;
    private final boolean untyped;
    private final String location;
    private final long numel;
    private final long byteSize;
    private Supplier<MemorySegment> source;
    private MemorySegment bytes;

    TorchStorage(String archive, String key, DType dtype, boolean untyped, String location, long numel, long byteSize,
                 Supplier<MemorySegment> source) {
        this.archive = archive;
        this.key = key;
        this.dtype = dtype;
        this.untyped = untyped;
        this.location = location;
        this.numel = numel;
        this.byteSize = byteSize;
        this.source = source;
    }

    /** The file it is in, for messages. */
    public String archive() {
        return archive;
    }

    public String key() {
        return key;
    }

    public DType dtype() {
        return dtype;
    }

    public boolean untyped() {
        return untyped;
    }

    public String location() {
        return location;
    }

    public long numel() {
        return numel;
    }

    /** The storage's size in bytes, known without reading it. */
    public long byteSize() {
        return byteSize;
    }

    public synchronized MemorySegment bytes() {
        if (bytes == null) {
            bytes = source.get().asSlice(0, byteSize);
            source = null;
        }
        return bytes;
    }
}
