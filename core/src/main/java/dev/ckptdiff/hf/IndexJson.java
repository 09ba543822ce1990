package dev.ckptdiff.hf;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.JsonFiles;
import dev.ckptdiff.io.SideFile;

/**
 * The {@code weight_map} of a {@code model.safetensors.index.json}: tensor name to shard file. It is
 * streamed rather than read as a tree, and each shard name must be a plain file of the model folder,
 * because transformers joins it to the folder as it stands.
 */
final class IndexJson {
    /**
     * The largest real index files (DeepSeek-V3/R1: about 92k entries of about 90 bytes, with
     * per-expert FP8 scales) are near 10 MiB; 64 MiB leaves room without admitting a file made to
     * exhaust memory.
     */
    static final long MAX_BYTES = 64L << 20;
    /** Tensors a whole checkpoint may list; ten times a DeepSeek-V3-sized model. */
    static final int MAX_ENTRIES = 1 << 20;

    private static final JsonFactory JSON = JsonFactory.builder()
            .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES).build();

    private IndexJson() {
    }

    /** Tensor name to shard file name, in file order; a repeated name keeps its last file, as Python's json does. */
    static Map<String, String> weightMap(Path index) {
        long size = SideFile.requireRegular(index).size();
        if (size > MAX_BYTES) {
            throw BadInputException.in(index, "is " + size + " bytes; a real " + HfCheckpoint.INDEX
                    + " is never larger than " + MAX_BYTES + " bytes, so this one is not read");
        }
        Map<String, String> map;
        try (InputStream in = Files.newInputStream(index); JsonParser p = JSON.createParser(in)) {
            try {
                map = top(index, p);
            } catch (JacksonException e) {
                throw JsonFiles.invalid(index, "is not valid JSON", e, p);
            }
        } catch (IOException e) {
            throw BadInputException.io(index, "be read", e);
        }
        if (map == null) {
            throw BadInputException.in(index, "has no 'weight_map' object");
        }
        return map;
    }

    /** The weight_map of the top-level object, or null when it has none. */
    private static Map<String, String> top(Path index, JsonParser p) throws IOException {
        Map<String, String> map = null;
        if (p.nextToken() != JsonToken.START_OBJECT) {
            throw BadInputException.in(index, "is not a JSON object");
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            p.nextToken();
            if (field.equals("weight_map")) {
                map = entries(index, p);
            } else {
                p.skipChildren();
            }
        }
        if (p.nextToken() != null) {
            throw BadInputException.in(index, "holds data after its JSON object" + JsonFiles.at(p.currentLocation()));
        }
        return map;
    }

    private static Map<String, String> entries(Path index, JsonParser p) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw BadInputException.in(index, "has no 'weight_map' object");
        }
        Map<String, String> map = new LinkedHashMap<>();
        Map<String, String> files = new HashMap<>(); // one String per shard name, not per tensor
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            if (p.nextToken() != JsonToken.VALUE_STRING) {
                throw BadInputException.in(index, "weight_map['" + name + "'] is not a file name"
                        + JsonFiles.at(p.currentLocation()));
            }
            String file = plainFileName(index, name, p.getText());
            if (map.size() == MAX_ENTRIES && !map.containsKey(name)) {
                throw BadInputException.in(index, "weight_map lists more than " + MAX_ENTRIES
                        + " tensors; real models list at most a few hundred thousand");
            }
            map.put(name, files.computeIfAbsent(file, f -> f));
        }
        return map;
    }

    /** A shard name must stay inside the folder: no separators, no "." or "..", no NUL. */
    private static String plainFileName(Path index, String tensor, String file) {
        String problem = file.isEmpty() || file.equals(".") || file.equals("..") ? "is not a file name"
                : file.indexOf('\0') >= 0 ? "holds a NUL character"
                : file.contains("/") || file.contains("\\") ? "holds a path separator" : null;
        if (problem != null) {
            throw BadInputException.in(index, "weight_map['" + tensor + "'] names '" + file.replace("\0", "\\0")
                    + "', which " + problem + ": shard names must be plain files in this folder");
        }
        return file;
    }
}
