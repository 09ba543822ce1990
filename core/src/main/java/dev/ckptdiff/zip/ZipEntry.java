package dev.ckptdiff.zip;

/**
 * One central-directory record. {@code dataOffset} is where the entry's bytes start, found from its
 * local header (whose name and extra lengths may differ from the central copy).
 */
public record ZipEntry(String name, int method, long compressedSize, long size, long localHeaderOffset,
                       long dataOffset) {
    public static final int STORED = 0;
    public static final int DEFLATED = 8;
}
