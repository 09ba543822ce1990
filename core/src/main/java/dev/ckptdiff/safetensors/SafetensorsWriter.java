package dev.ckptdiff.safetensors;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.io.OutputBytes;
import dev.ckptdiff.io.OutputFile;
import dev.ckptdiff.io.Sink;
import dev.ckptdiff.tensor.DType;

/** Writes a .safetensors file: header (padded to 8 bytes), then each tensor filled in place. */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    public record Entry(String name, DType dtype, long[] shape, Object tag) {
        /** Refused when the product overflows: such a tensor could never be written. */
        public long bytes() {
            return OutputBytes.of(name, shape, dtype.size());
        }
    }

    private SafetensorsWriter() {
    }

    public static long size(List<Entry> entries, Map<String, String> metadata) {
        return 8 + header(entries, metadata).length + entries.stream().mapToLong(Entry::bytes).sum();
    }

    private static byte[] header(List<Entry> entries, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = root.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode o = root.putObject(e.name());
            o.put("dtype", e.dtype().name());
            ArrayNode shape = o.putArray("shape");
            Arrays.stream(e.shape()).forEach(shape::add);
            ArrayNode off = o.putArray("data_offsets");
            off.add(offset);
            offset = OutputBytes.add(offset, e.bytes(), e.name());
            off.add(offset);
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /** Writes the file; {@code fill} streams each entry's bytes (exactly {@link Entry#bytes()}) in order. */
    public static void write(Path file, List<Entry> entries, Map<String, String> metadata, BiConsumer<Entry, Sink> fill) {
        byte[] header = header(entries, metadata);
        try (OutputFile out = OutputFile.create(file)) {
            MemorySegment length = MemorySegment.ofArray(new byte[8]);
            length.set(MappedFile.LONG_LE, 0, header.length);
            out.write(0, length);
            out.write(8, header);
            long p = 8 + header.length;
            for (Entry e : entries) {
                long base = p;
                fill.accept(e, (off, bytes) -> out.write(base + off, bytes));
                p += e.bytes();
            }
            out.finish();
        }
    }
}
