package dev.ckptdiff.tensor;

import java.lang.foreign.MemorySegment;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** SHA-256 of a tensor's elements in row-major order, as torch would write them contiguously. */
public final class TensorDigest {
    private static final long WINDOW = 64L << 20;

    private TensorDigest() {
    }

    public static String sha256(Tensor t) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        if (t.isContiguous()) {
            MemorySegment bytes = t.bytes();
            for (long off = 0; off < bytes.byteSize(); off += WINDOW) { // ByteBuffers stop at 2 GiB
                md.update(bytes.asSlice(off, Math.min(WINDOW, bytes.byteSize() - off)).asByteBuffer());
            }
        } else {
            int size = t.dtype().size();
            for (long i = 0; i < t.numel(); i++) {
                md.update(t.storage().asSlice(t.byteOffsetOf(i), size).asByteBuffer());
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
