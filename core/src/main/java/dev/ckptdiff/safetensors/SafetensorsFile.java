package dev.ckptdiff.safetensors;

import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.JsonFiles;
import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Shapes;
import dev.ckptdiff.tensor.Tensor;

/**
 * One {@code .safetensors} file, mapped. Opening it reads and validates only the header; each
 * tensor is a view of the mapping. The rules are the format's own (and those of the reference
 * reader): the data offsets must tile the data region exactly, so that no byte is shared or unowned.
 */
public final class SafetensorsFile implements AutoCloseable {
    public static final long MAX_HEADER = 100_000_000L;
    /**
     * Tensors one file may list. Shards hold a few thousand; even a whole DeepSeek-V3-sized MoE with
     * per-expert FP8 scales (58 MoE layers x 256 experts x 3 matrices x 2, about 92k tensors) fits. Beyond this the per-tensor views would not fit a
     * small heap, and no real file gets there.
     */
    public static final int MAX_TENSORS = 1 << 18;
    /** Dimensions of one shape: torch allows 64. */
    private static final int MAX_RANK = 64;

    // Field names are not canonicalized: a header may hold hundreds of thousands of distinct ones.
    private static final JsonFactory JSON = JsonFactory.builder()
            .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES)
            .build();

    private final MappedFile file;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(MappedFile file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.file = file;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) {
        MappedFile file = MappedFile.open(path);
        try {
            return parse(file);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static SafetensorsFile parse(MappedFile file) {
        Path path = file.path();
        if (file.size() < 8) {
            throw BadInputException.at(path, 0, "file of " + file.size()
                    + " bytes is too short for a safetensors header length (8 bytes)");
        }
        long n = file.readLongLE(0, "header length");
        if (n < 2 || n > MAX_HEADER) {
            throw BadInputException.at(path, 0, "header length " + Long.toUnsignedString(n)
                    + " is outside 2.." + MAX_HEADER + " (not a safetensors file?)");
        }
        if (n > file.size() - 8) {
            throw BadInputException.at(path, 0, "header length " + n + " runs past the end of the file ("
                    + file.size() + " bytes)");
        }
        MemorySegment header = file.slice(8, n, "header");
        if (header.get(ValueLayout.JAVA_BYTE, 0) != '{') {
            throw BadInputException.at(path, 8, "header does not start with '{'");
        }
        Header h = new Header(path);
        // Streamed from the mapping: a 100 MB header as a JSON tree would cost several times its size.
        try (JsonParser p = JSON.createParser(new SegmentInputStream(header))) {
            try {
                h.read(p);
            } catch (JacksonException e) {
                // Limits (nesting, string length) come without a location: the parser's position stands in.
                // Without canonical field names Jackson reads through a Reader: positions are line and
                // column of the header text, not byte offsets.
                throw BadInputException.at(path, 8, "header is not valid JSON" + JsonFiles.at(JsonFiles.location(e, p))
                        + ": " + JsonFiles.reason(e));
            }
        } catch (java.io.IOException e) {
            throw BadInputException.at(path, 8, "header is not valid JSON: " + e.getMessage());
        }
        long dataStart = 8 + n;
        long dataLength = file.size() - dataStart;
        List<Entry> entries = h.entries;

        List<Entry> byOffset = new ArrayList<>(entries);
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long cursor = 0;
        for (Entry e : byOffset) {
            if (e.begin() != cursor) {
                throw BadInputException.at(path, dataStart + Math.min(e.begin(), cursor), "tensor '" + e.name()
                        + "' starts at data offset " + e.begin() + " but the previous tensor ends at "
                        + cursor + (e.begin() > cursor ? " (a gap)" : " (they overlap)"));
            }
            cursor = e.end();
        }
        if (cursor != dataLength) {
            throw BadInputException.at(path, dataStart + Math.min(cursor, dataLength), "tensors cover "
                    + cursor + " data bytes but the file holds " + dataLength + " after the header"
                    + (cursor > dataLength ? " (truncated file?)" : " (trailing bytes)"));
        }

        Map<String, Tensor> tensors = LinkedHashMap.newLinkedHashMap(entries.size());
        String origin = path.toString();
        for (Entry e : entries) {
            tensors.put(e.name(), Tensor.contiguous(e.name(), e.dtype(), e.shape(),
                    file.slice(dataStart + e.begin(), e.end() - e.begin(), e.name()), origin));
        }
        return new SafetensorsFile(file, Collections.unmodifiableMap(tensors), h.metadata);
    }

    private record Entry(String name, DType dtype, long[] shape, long begin, long end) {
    }

    /** The header's entries, read token by token with bounded memory per tensor. */
    private static final class Header {
        private final Path path;
        private final List<Entry> entries = new ArrayList<>();
        private final Set<String> names = new HashSet<>();
        private Map<String, String> metadata = Map.of();

        Header(Path path) {
            this.path = path;
        }

        void read(JsonParser p) throws java.io.IOException {
            p.nextToken();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                if (!names.add(key)) {
                    throw BadInputException.in(path, "header" + JsonFiles.at(p.currentLocation()) + " names '"
                            + key + "' twice");
                }
                p.nextToken();
                if (key.equals("__metadata__")) {
                    metadata = readMetadata(p);
                    continue;
                }
                if (entries.size() == MAX_TENSORS) {
                    throw BadInputException.in(path, "header" + JsonFiles.at(p.currentLocation()) + " lists more than "
                            + MAX_TENSORS + " tensors; real files hold at most tens of thousands");
                }
                entries.add(readEntry(p, key));
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw BadInputException.in(path, "header" + JsonFiles.at(p.currentLocation())
                        + ": unexpected data after the header's JSON object");
            }
        }

        private Entry readEntry(JsonParser p, String key) throws java.io.IOException {
            String where = "header entry '" + key + "'";
            if (p.currentToken() != JsonToken.START_OBJECT) {
                throw BadInputException.in(path, where + ": expected an object {dtype, shape, data_offsets}");
            }
            String dt = null;
            long[] shape = null;
            long[] offsets = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken v = p.nextToken();
                switch (field) {
                    case "dtype" -> {
                        dt = v == JsonToken.VALUE_STRING ? p.getText() : "";
                        p.skipChildren();
                    }
                    case "shape" -> shape = readLongs(p, where, "shape", -1);
                    case "data_offsets" -> offsets = readLongs(p, where, "data_offsets", 2);
                    default -> p.skipChildren(); // the reference reader ignores unknown fields too
                }
            }
            if (dt == null || dt.isEmpty()) {
                throw BadInputException.in(path, where + ": 'dtype' missing or not a string");
            }
            String dtName = dt;
            DType dtype = DType.fromSafetensors(dt).orElseThrow(() -> BadInputException.in(path,
                    where + ": unknown dtype '" + dtName + "'"));
            if (shape == null) {
                throw BadInputException.in(path, where + ": 'shape' must be an array of integers");
            }
            if (offsets == null) {
                throw BadInputException.in(path, where + ": 'data_offsets' must be an array of 2 integers");
            }
            long begin = offsets[0];
            long end = offsets[1];
            if (end < begin) {
                throw BadInputException.in(path, where + ": data_offsets [" + begin + ", " + end
                        + "] end before they begin");
            }
            long expected = Shapes.checkedBytes(shape, dtype.size());
            if (expected < 0) {
                throw BadInputException.in(path, where + ": shape " + Shapes.toString(shape)
                        + " overflows a 64-bit byte count");
            }
            if (end - begin != expected) {
                throw BadInputException.in(path, where + ": data_offsets [" + begin + ", " + end + "] hold "
                        + (end - begin) + " bytes; shape " + Shapes.toString(shape) + " of " + dtype
                        + " needs " + expected);
            }
            return new Entry(key, dtype, shape, begin, end);
        }

        private long[] readLongs(JsonParser p, String where, String field, int length) throws java.io.IOException {
            String expected = "'" + field + "' must be an array" + (length >= 0 ? " of " + length + " integers" : " of integers");
            if (p.currentToken() != JsonToken.START_ARRAY) {
                throw BadInputException.in(path, where + ": " + expected);
            }
            long[] out = new long[4];
            int count = 0;
            while (p.nextToken() != JsonToken.END_ARRAY) {
                if (p.currentToken() != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                        || p.getLongValue() < 0) {
                    throw BadInputException.in(path, where + ": '" + field + "[" + count + "]' = "
                            + (p.currentToken().isScalarValue() ? p.getText() : p.currentToken().asString())
                            + " is not a non-negative 64-bit integer");
                }
                if (count == MAX_RANK) {
                    throw BadInputException.in(path, where + ": '" + field + "' has more than " + MAX_RANK + " entries");
                }
                if (count == out.length) {
                    out = Arrays.copyOf(out, out.length * 2);
                }
                out[count++] = p.getLongValue();
            }
            if (length >= 0 && count != length) {
                throw BadInputException.in(path, where + ": " + expected);
            }
            return Arrays.copyOf(out, count);
        }

        private Map<String, String> readMetadata(JsonParser p) throws java.io.IOException {
            if (p.currentToken() != JsonToken.START_OBJECT) {
                throw BadInputException.in(path, "header '__metadata__' must be an object of strings");
            }
            Map<String, String> m = new LinkedHashMap<>();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String k = p.currentName();
                JsonToken v = p.nextToken();
                if (v != JsonToken.VALUE_STRING) {
                    throw BadInputException.in(path, "header '__metadata__." + k + "' must be a string, found "
                            + v.asString());
                }
                if (m.size() == MAX_TENSORS) {
                    throw BadInputException.in(path, "header '__metadata__' holds more than " + MAX_TENSORS + " entries");
                }
                m.put(k, p.getText());
            }
            return Collections.unmodifiableMap(m);
        }
    }


    /** Reads a mapped segment as a stream, without copying it to the heap. */
    private static final class SegmentInputStream extends InputStream {
        private final MemorySegment seg;
        private long pos;

        SegmentInputStream(MemorySegment seg) {
            this.seg = seg;
        }

        @Override
        public int read() {
            return pos < seg.byteSize() ? seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            long left = seg.byteSize() - pos;
            if (left <= 0) {
                return -1;
            }
            int k = (int) Math.min(len, left);
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, b, off, k);
            pos += k;
            return k;
        }
    }

    public Path path() {
        return file.path();
    }

    public long fileSize() {
        return file.size();
    }

    /** Tensors in header order. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public void close() {
        file.close();
    }
}
