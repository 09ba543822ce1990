package dev.ckptdiff.torchdist;

/** Where one item (a tensor chunk or a byte item) lies: {@code [offset, offset+length)} of a {@code .distcp} file. */
public record StorageInfo(String file, long offset, long length) {
    public String describe() {
        return file + " bytes [" + offset + ", " + (offset + length) + ")";
    }
}
