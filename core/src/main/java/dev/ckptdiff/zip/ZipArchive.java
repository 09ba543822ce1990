package dev.ckptdiff.zip;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.ByteWindow;
import dev.ckptdiff.io.MappedFile;

/**
 * A zip archive read through its central directory, which is what torch's own reader does:
 * {@code torch.save} writes data descriptors and ZIP64 records that stream readers trip over.
 * Stored entries are views of the mapping. Deflated ones (torch never writes them; a hand-made or
 * hostile archive may) are inflated off-heap when first read, against one bound for the whole process
 * ({@value #BUDGET_PROPERTY}, 256 MiB by default) that an archive gives back when it is closed: a few KB
 * of zip can claim gigabytes, and many shards are open at once.
 */
public final class ZipArchive implements AutoCloseable {
    private static final int EOCD_SIG = 0x06054b50;
    private static final int ZIP64_LOCATOR_SIG = 0x07064b50;
    private static final int ZIP64_EOCD_SIG = 0x06064b50;
    private static final int CENTRAL_SIG = 0x02014b50;
    private static final int LOCAL_SIG = 0x04034b50;
    private static final int EOCD_MIN = 22;
    private static final int CENTRAL_MIN = 46;

    public static final String BUDGET_PROPERTY = "ckptdiff.maxInflatedBytes";
    private static final long BUDGET = Long.getLong(BUDGET_PROPERTY, 256L << 20);
    private static final AtomicLong INFLATED = new AtomicLong();

    private final MappedFile file;
    private final Map<String, ZipEntry> entries;
    private final Arena inflated = Arena.ofShared();
    private final Map<String, MemorySegment> inflatedEntries = new HashMap<>();
    private long reserved;

    private ZipArchive(MappedFile file, Map<String, ZipEntry> entries) {
        this.file = file;
        this.entries = entries;
    }

    /** True when the file starts like a zip (local header) — how torch tells new files from old. */
    public static boolean looksLikeZip(MappedFile file) {
        return file.size() >= 4 && file.readIntLE(0, "magic") == LOCAL_SIG;
    }

    public static ZipArchive open(MappedFile file) {
        return new ZipArchive(file, readCentralDirectory(file));
    }

    /** Bytes that deflated entries of open archives hold now, process-wide. */
    public static long inflatedBytes() {
        return INFLATED.get();
    }

    private static Map<String, ZipEntry> readCentralDirectory(MappedFile f) {
        Path path = f.path();
        long eocd = findEndOfCentralDirectory(f);
        long count = f.readShortLE(eocd + 10, "entry count");
        long cdSize = f.readIntLE(eocd + 12, "central directory size");
        long cdOffset = f.readIntLE(eocd + 16, "central directory offset");
        if (count == 0xFFFF || cdSize == 0xFFFFFFFFL || cdOffset == 0xFFFFFFFFL) {
            long locator = eocd - 20;
            if (locator < 0 || f.readIntLE(locator, "ZIP64 locator") != ZIP64_LOCATOR_SIG) {
                throw BadInputException.at(path, eocd, "end record says ZIP64 but no ZIP64 locator precedes it");
            }
            long z64 = f.readLongLE(locator + 8, "ZIP64 end record offset");
            if (z64 < 0 || z64 > f.size() - 56 || f.readIntLE(z64, "ZIP64 end record") != ZIP64_EOCD_SIG) {
                throw BadInputException.at(path, locator, "ZIP64 locator points at " + z64
                        + ", where there is no ZIP64 end record");
            }
            count = f.readLongLE(z64 + 32, "ZIP64 entry count");
            cdSize = f.readLongLE(z64 + 40, "ZIP64 central directory size");
            cdOffset = f.readLongLE(z64 + 48, "ZIP64 central directory offset");
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset > f.size() || cdSize > f.size() - cdOffset) {
            throw BadInputException.at(path, eocd, "central directory at " + cdOffset + " (" + cdSize
                    + " bytes) lies outside the file (" + f.size() + " bytes)");
        }
        if (count < 0 || count > cdSize / CENTRAL_MIN) {
            throw BadInputException.at(path, eocd, "end record claims " + count
                    + " entries, more than a central directory of " + cdSize + " bytes can hold");
        }
        Map<String, ZipEntry> entries = new LinkedHashMap<>();
        // Records are read in order through an array window (tens of thousands of fields in a large shard);
        // every read lies inside [cdOffset, end), checked above and per record below.
        ByteWindow cd = new ByteWindow(f.segment());
        long p = cdOffset;
        long end = cdOffset + cdSize;
        for (long i = 0; i < count; i++) {
            if (p + CENTRAL_MIN > end || cd.le(p, 4) != CENTRAL_SIG) {
                throw BadInputException.at(path, p, "expected central directory record " + i + " of " + count);
            }
            int flags = (int) cd.le(p + 8, 2);
            int method = (int) cd.le(p + 10, 2);
            long csize = cd.le(p + 20, 4);
            long usize = cd.le(p + 24, 4);
            int nameLen = (int) cd.le(p + 28, 2);
            int extraLen = (int) cd.le(p + 30, 2);
            int commentLen = (int) cd.le(p + 32, 2);
            long local = cd.le(p + 42, 4);
            long next = p + CENTRAL_MIN + nameLen + extraLen + commentLen;
            if (next > end) {
                throw BadInputException.at(path, p, "central directory record " + i
                        + " runs past the end of the central directory");
            }
            if ((flags & 1) != 0) {
                throw BadInputException.at(path, p, "entry " + i + " is encrypted");
            }
            String name = cd.utf8(p + CENTRAL_MIN, nameLen);
            // ZIP64 extra field: the 64-bit values appear only for fields that hold 0xFFFFFFFF.
            long x = p + CENTRAL_MIN + nameLen;
            long xEnd = x + extraLen;
            while (x + 4 <= xEnd) {
                int id = (int) cd.le(x, 2);
                int len = (int) cd.le(x + 2, 2);
                long q = x + 4;
                if (q + len > xEnd) {
                    throw BadInputException.at(path, x, "extra field of entry '" + name + "' overruns its record");
                }
                if (id == 0x0001) {
                    if (usize == 0xFFFFFFFFL && q + 8 <= x + 4 + len) {
                        usize = cd.le(q, 8);
                        q += 8;
                    }
                    if (csize == 0xFFFFFFFFL && q + 8 <= x + 4 + len) {
                        csize = cd.le(q, 8);
                        q += 8;
                    }
                    if (local == 0xFFFFFFFFL && q + 8 <= x + 4 + len) {
                        local = cd.le(q, 8);
                    }
                }
                x += 4 + len;
            }
            if (local < 0 || local > f.size() - 30 || f.readIntLE(local, "local header") != LOCAL_SIG) {
                throw BadInputException.at(path, p, "entry '" + name + "' points at offset " + local
                        + ", where there is no local header (file is " + f.size() + " bytes)");
            }
            long dataOffset = local + 30 + f.readShortLE(local + 26, "local name length")
                    + f.readShortLE(local + 28, "local extra length");
            if (csize < 0 || dataOffset > f.size() || csize > f.size() - dataOffset) {
                throw BadInputException.at(path, local, "entry '" + name + "' data (" + csize
                        + " bytes at " + dataOffset + ") runs past the end of the file (" + f.size() + " bytes)");
            }
            if (method == ZipEntry.STORED && csize != usize) {
                throw BadInputException.at(path, p, "stored entry '" + name + "' has compressed size " + csize
                        + " but size " + usize);
            }
            if (entries.putIfAbsent(name, new ZipEntry(name, method, csize, usize, local, dataOffset)) != null) {
                throw BadInputException.at(path, p, "entry name '" + name + "' occurs twice");
            }
            p = next;
        }
        return Collections.unmodifiableMap(entries);
    }

    private static long findEndOfCentralDirectory(MappedFile f) {
        long size = f.size();
        if (size < EOCD_MIN) {
            throw BadInputException.at(f.path(), 0, "file of " + size + " bytes is too short for a zip archive");
        }
        long stop = Math.max(0, size - EOCD_MIN - 0xFFFF);
        for (long p = size - EOCD_MIN; p >= stop; p--) {
            if (f.readIntLE(p, "end record") == EOCD_SIG && p + EOCD_MIN + f.readShortLE(p + 20, "comment length") == size) {
                return p;
            }
        }
        throw BadInputException.at(f.path(), size, "no zip end-of-central-directory record (truncated file?)");
    }

    public Map<String, ZipEntry> entries() {
        return entries;
    }

    public MappedFile file() {
        return file;
    }

    /**
     * The entry's bytes: a view of the mapping if stored, else inflated off-heap (once) within the
     * process-wide bound.
     */
    public synchronized MemorySegment data(ZipEntry e) {
        if (e.method() == ZipEntry.STORED) {
            return file.slice(e.dataOffset(), e.size(), "entry '" + e.name() + "'");
        }
        if (e.method() != ZipEntry.DEFLATED) {
            throw BadInputException.at(file.path(), e.localHeaderOffset(), "entry '" + e.name()
                    + "' uses compression method " + e.method() + "; only stored (0) and deflated (8) are read");
        }
        MemorySegment done = inflatedEntries.get(e.name());
        if (done != null) {
            return done;
        }
        reserve(e);
        MemorySegment out = inflated.allocate(Math.max(1, e.size())).asSlice(0, e.size());
        Inflater inf = new Inflater(true);
        try {
            inf.setInput(file.slice(e.dataOffset(), e.compressedSize(), e.name()).asByteBuffer());
            ByteBuffer target = out.asByteBuffer();
            while (target.hasRemaining() && !inf.finished()) {
                if (inf.inflate(target) == 0 && (inf.needsInput() || inf.needsDictionary())) {
                    break;
                }
            }
            if (target.hasRemaining() || !inf.finished()) {
                throw BadInputException.at(file.path(), e.dataOffset(), "deflated entry '" + e.name()
                        + "' does not inflate to its recorded " + e.size() + " bytes");
            }
        } catch (DataFormatException ex) {
            throw BadInputException.at(file.path(), e.dataOffset(), "deflated entry '" + e.name()
                    + "' is corrupt: " + ex.getMessage());
        } finally {
            inf.end();
        }
        inflatedEntries.put(e.name(), out);
        return out;
    }

    private void reserve(ZipEntry e) {
        long size = e.size();
        while (true) {
            long now = INFLATED.get();
            if (size < 0 || size > BUDGET - now) {
                throw BadInputException.at(file.path(), e.localHeaderOffset(), "deflated entry '" + e.name()
                        + "' would inflate to " + size + " bytes; with the " + now
                        + " bytes other compressed"
                        + " entries hold, that is over the bound of " + BUDGET + " bytes (-D" + BUDGET_PROPERTY
                        + " sets it); torch.save never compresses entries");
            }
            if (INFLATED.compareAndSet(now, now + size)) {
                reserved += size;
                return;
            }
        }
    }

    public static String utf8(MemorySegment s) {
        return new String(s.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    @Override
    public synchronized void close() {
        if (inflated.scope().isAlive()) {
            inflated.close();
            INFLATED.addAndGet(-reserved);
            reserved = 0;
        }
        file.close();
    }
}
