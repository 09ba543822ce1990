package dev.ckptdiff.torch;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.zip.CRC32;

import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.io.OutputBytes;
import dev.ckptdiff.io.OutputFile;
import dev.ckptdiff.io.Sink;

/**
 * Writes a file in torch.save's zip layout: every entry stored (mmap-safe), tensor data aligned to
 * 64 bytes, ZIP64 records when the archive needs them. The pickle is built first (it is small), the
 * archive laid out, then each storage streamed by the caller, one tensor at a time, with its CRC
 * computed on the way.
 */
public final class TorchSaveWriter {
    private static final String PREFIX = "archive/";
    private static final int ALIGN = 64;
    private static final long ZIP32_MAX = 0xFFFFFFFFL - 1;

    /** One storage to write: its key in the pickle, its size, and how to fill it. */
    public record Storage(String key, long bytes, Object tag) {
    }

    private record Entry(String name, long size, long localOffset, long dataOffset, byte[] inline, Storage storage) {
    }

    private TorchSaveWriter() {
    }

    /**
     * @param pickle   the data.pkl bytes, naming storages by key
     * @param storages the storages, in the order they appear
     * @param fill     streams a storage's bytes (exactly its size) into the sink, in order
     */
    public static void write(Path file, byte[] pickle, List<Storage> storages, BiConsumer<Storage, Sink> fill) {
        write(file, pickle, storages, fill, ZIP32_MAX);
    }

    /** As above; archives larger than {@code zip64Above} bytes get ZIP64 records (tests pass 0). */
    public static void write(Path file, byte[] pickle, List<Storage> storages, BiConsumer<Storage, Sink> fill,
                             long zip64Above) {
        List<Entry> entries = new ArrayList<>();
        long offset = 0;
        List<Object[]> plan = new ArrayList<>();
        plan.add(new Object[]{"data.pkl", pickle, null});
        plan.add(new Object[]{".format_version", "1".getBytes(StandardCharsets.US_ASCII), null});
        plan.add(new Object[]{".storage_alignment", "64".getBytes(StandardCharsets.US_ASCII), null});
        plan.add(new Object[]{"byteorder", "little".getBytes(StandardCharsets.US_ASCII), null});
        for (Storage s : storages) {
            plan.add(new Object[]{"data/" + s.key(), null, s});
        }
        plan.add(new Object[]{"version", "3\n".getBytes(StandardCharsets.US_ASCII), null});
        plan.add(new Object[]{".data/serialization_id", "0000000000000000000000000000000000000000".getBytes(StandardCharsets.US_ASCII), null});
        long total = pickle.length;
        for (Storage s : storages) {
            total = OutputBytes.add(total, s.bytes(), file.toString());
        }
        boolean zip64 = total + (long) plan.size() * 256 > zip64Above;
        for (Object[] p : plan) {
            String name = PREFIX + p[0];
            byte[] inline = (byte[]) p[1];
            Storage st = (Storage) p[2];
            long size = inline != null ? inline.length : st.bytes();
            int nameLen = name.getBytes(StandardCharsets.UTF_8).length;
            long headerEnd = offset + 30 + nameLen + (zip64 ? 20 : 0) + 4; // + minimal padding field
            long data = (headerEnd + ALIGN - 1) / ALIGN * ALIGN;
            entries.add(new Entry(name, size, offset, data, inline, st));
            offset = OutputBytes.add(data, size, name);
        }
        long cdOffset = offset;
        long cdSize = 0;
        for (Entry e : entries) {
            cdSize += 46 + e.name().getBytes(StandardCharsets.UTF_8).length + (zip64 ? 28 : 0);
        }
        try (OutputFile out = OutputFile.create(file)) {
            long[] crcs = new long[entries.size()];
            for (int i = 0; i < entries.size(); i++) {
                Entry e = entries.get(i);
                CRC32 crc = new CRC32();
                if (e.inline() != null) {
                    crc.update(e.inline());
                    out.write(e.dataOffset(), e.inline());
                } else {
                    long[] next = {0};
                    fill.accept(e.storage(), (off, bytes) -> {
                        if (off != next[0]) { // the CRC is computed as the bytes go by
                            throw new IllegalStateException("storage " + e.name() + " written out of order");
                        }
                        for (long o = 0; o < bytes.byteSize(); o += 1L << 30) {
                            crc.update(bytes.asSlice(o, Math.min(1L << 30, bytes.byteSize() - o)).asByteBuffer());
                        }
                        out.write(e.dataOffset() + off, bytes);
                        next[0] += bytes.byteSize();
                    });
                }
                crcs[i] = crc.getValue();
                out.write(e.localOffset(), localHeader(e, crcs[i], zip64));
            }
            MemorySegment tail = MemorySegment.ofArray(new byte[(int) (cdSize + (zip64 ? 56 + 20 : 0) + 22)]);
            long p = 0;
            for (int i = 0; i < entries.size(); i++) {
                p = centralHeader(tail, p, entries.get(i), crcs[i], zip64);
            }
            if (zip64) {
                long eocd64 = cdOffset + p;
                tail.set(MappedFile.INT_LE, p, 0x06064b50);
                tail.set(MappedFile.LONG_LE, p + 4, 44);
                tail.set(MappedFile.SHORT_LE, p + 12, (short) 45);
                tail.set(MappedFile.SHORT_LE, p + 14, (short) 45);
                tail.set(MappedFile.LONG_LE, p + 24, entries.size());
                tail.set(MappedFile.LONG_LE, p + 32, entries.size());
                tail.set(MappedFile.LONG_LE, p + 40, cdSize);
                tail.set(MappedFile.LONG_LE, p + 48, cdOffset);
                p += 56;
                tail.set(MappedFile.INT_LE, p, 0x07064b50);
                tail.set(MappedFile.LONG_LE, p + 8, eocd64);
                tail.set(MappedFile.INT_LE, p + 16, 1);
                p += 20;
            }
            tail.set(MappedFile.INT_LE, p, 0x06054b50);
            tail.set(MappedFile.SHORT_LE, p + 8, (short) (zip64 ? 0xFFFF : entries.size()));
            tail.set(MappedFile.SHORT_LE, p + 10, (short) (zip64 ? 0xFFFF : entries.size()));
            tail.set(MappedFile.INT_LE, p + 12, (int) (zip64 ? 0xFFFFFFFFL : cdSize));
            tail.set(MappedFile.INT_LE, p + 16, (int) (zip64 ? 0xFFFFFFFFL : cdOffset));
            out.write(cdOffset, tail);
            out.finish();
        }
    }

    /** The local header and its padding, up to the entry's 64-byte-aligned data. */
    private static MemorySegment localHeader(Entry e, long crc, boolean zip64) {
        byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
        MemorySegment seg = MemorySegment.ofArray(new byte[(int) (e.dataOffset() - e.localOffset())]);
        long p = 0;
        int extraLen = (int) (seg.byteSize() - (30 + name.length));
        seg.set(MappedFile.INT_LE, p, 0x04034b50);
        seg.set(MappedFile.SHORT_LE, p + 4, (short) (zip64 ? 45 : 20));
        seg.set(MappedFile.SHORT_LE, p + 6, (short) 0);
        seg.set(MappedFile.SHORT_LE, p + 8, (short) 0); // stored
        seg.set(MappedFile.SHORT_LE, p + 10, (short) 0);
        seg.set(MappedFile.SHORT_LE, p + 12, (short) 0x21); // 1980-01-01
        seg.set(MappedFile.INT_LE, p + 14, (int) crc);
        seg.set(MappedFile.INT_LE, p + 18, (int) (zip64 ? 0xFFFFFFFFL : e.size()));
        seg.set(MappedFile.INT_LE, p + 22, (int) (zip64 ? 0xFFFFFFFFL : e.size()));
        seg.set(MappedFile.SHORT_LE, p + 26, (short) name.length);
        seg.set(MappedFile.SHORT_LE, p + 28, (short) extraLen);
        MemorySegment.copy(MemorySegment.ofArray(name), 0, seg, p + 30, name.length);
        long x = p + 30 + name.length;
        if (zip64) {
            seg.set(MappedFile.SHORT_LE, x, (short) 1);
            seg.set(MappedFile.SHORT_LE, x + 2, (short) 16);
            seg.set(MappedFile.LONG_LE, x + 4, e.size());
            seg.set(MappedFile.LONG_LE, x + 12, e.size());
            x += 20;
        }
        // The rest of the header up to the 64-byte boundary is a padding field, as torch writes ("FB").
        int pad = (int) (seg.byteSize() - x - 4);
        seg.set(MappedFile.SHORT_LE, x, (short) 0x4246);
        seg.set(MappedFile.SHORT_LE, x + 2, (short) pad);
        seg.asSlice(x + 4, pad).fill((byte) 'Z');
        return seg;
    }

    private static long centralHeader(MemorySegment seg, long p, Entry e, long crc, boolean zip64) {
        byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
        seg.set(MappedFile.INT_LE, p, 0x02014b50);
        seg.set(MappedFile.SHORT_LE, p + 4, (short) (zip64 ? 45 : 20));
        seg.set(MappedFile.SHORT_LE, p + 6, (short) (zip64 ? 45 : 20));
        seg.set(MappedFile.SHORT_LE, p + 8, (short) 0);
        seg.set(MappedFile.SHORT_LE, p + 10, (short) 0);
        seg.set(MappedFile.SHORT_LE, p + 12, (short) 0);
        seg.set(MappedFile.SHORT_LE, p + 14, (short) 0x21);
        seg.set(MappedFile.INT_LE, p + 16, (int) crc);
        seg.set(MappedFile.INT_LE, p + 20, (int) (zip64 ? 0xFFFFFFFFL : e.size()));
        seg.set(MappedFile.INT_LE, p + 24, (int) (zip64 ? 0xFFFFFFFFL : e.size()));
        seg.set(MappedFile.SHORT_LE, p + 28, (short) name.length);
        seg.set(MappedFile.SHORT_LE, p + 30, (short) (zip64 ? 28 : 0));
        seg.set(MappedFile.INT_LE, p + 42, (int) (zip64 ? 0xFFFFFFFFL : e.localOffset()));
        MemorySegment.copy(MemorySegment.ofArray(name), 0, seg, p + 46, name.length);
        long x = p + 46 + name.length;
        if (zip64) {
            seg.set(MappedFile.SHORT_LE, x, (short) 1);
            seg.set(MappedFile.SHORT_LE, x + 2, (short) 24);
            seg.set(MappedFile.LONG_LE, x + 4, e.size());
            seg.set(MappedFile.LONG_LE, x + 12, e.size());
            seg.set(MappedFile.LONG_LE, x + 20, e.localOffset());
            x += 28;
        }
        return x;
    }
}
