package dev.ckptdiff.safetensors;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import dev.ckptdiff.io.BadInputException;
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

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION)
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
        byte[] header = file.slice(8, n, "header").toArray(ValueLayout.JAVA_BYTE);
        if (header[0] != '{') {
            throw BadInputException.at(path, 8, "header does not start with '{'");
        }
        JsonNode root;
        try (JsonParser p = JSON.createParser(header)) {
            root = JSON.readTree(p);
            if (p.nextToken() != null) {
                throw BadInputException.at(path, 8 + p.currentLocation().getByteOffset(),
                        "unexpected data after the header's JSON object");
            }
        } catch (JsonParseException e) {
            long at = 8 + Math.max(0, e.getLocation().getByteOffset());
            throw BadInputException.at(path, at, "header is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw BadInputException.at(path, 8, "header is not valid JSON: " + e.getMessage());
        }
        long dataStart = 8 + n;
        long dataLength = file.size() - dataStart;

        Map<String, String> metadata = Map.of();
        record Entry(String name, DType dtype, long[] shape, long begin, long end) {
        }
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String key = field.getKey();
            JsonNode v = field.getValue();
            if (key.equals("__metadata__")) {
                metadata = readMetadata(path, v);
                continue;
            }
            String where = "header entry '" + key + "'";
            if (!v.isObject()) {
                throw BadInputException.in(path, where + ": expected an object {dtype, shape, data_offsets}");
            }
            JsonNode dt = v.get("dtype");
            if (dt == null || !dt.isTextual()) {
                throw BadInputException.in(path, where + ": 'dtype' missing or not a string");
            }
            DType dtype = DType.fromSafetensors(dt.asText()).orElseThrow(() -> BadInputException.in(path,
                    where + ": unknown dtype '" + dt.asText() + "'"));
            long[] shape = readLongs(path, where, v.get("shape"), "shape", -1);
            long[] offsets = readLongs(path, where, v.get("data_offsets"), "data_offsets", 2);
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
            entries.add(new Entry(key, dtype, shape, begin, end));
        }

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

        Map<String, Tensor> tensors = new LinkedHashMap<>();
        String origin = path.toString();
        for (Entry e : entries) {
            tensors.put(e.name(), Tensor.contiguous(e.name(), e.dtype(), e.shape(),
                    file.slice(dataStart + e.begin(), e.end() - e.begin(), e.name()), origin));
        }
        return new SafetensorsFile(file, Collections.unmodifiableMap(tensors), metadata);
    }

    private static Map<String, String> readMetadata(Path path, JsonNode v) {
        if (!v.isObject()) {
            throw BadInputException.in(path, "header '__metadata__' must be an object of strings");
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> f : v.properties()) {
            if (!f.getValue().isTextual()) {
                throw BadInputException.in(path, "header '__metadata__." + f.getKey()
                        + "' must be a string, found " + f.getValue().getNodeType());
            }
            m.put(f.getKey(), f.getValue().asText());
        }
        return Collections.unmodifiableMap(m);
    }

    private static long[] readLongs(Path path, String where, JsonNode node, String field, int length) {
        if (node == null || !node.isArray() || (length >= 0 && node.size() != length)) {
            throw BadInputException.in(path, where + ": '" + field + "' must be an array"
                    + (length >= 0 ? " of " + length + " integers" : " of integers"));
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode x = node.get(i);
            if (!x.isIntegralNumber() || !x.canConvertToLong() || x.asLong() < 0) {
                throw BadInputException.in(path, where + ": '" + field + "[" + i + "]' = " + x
                        + " is not a non-negative 64-bit integer");
            }
            out[i] = x.asLong();
        }
        return out;
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
