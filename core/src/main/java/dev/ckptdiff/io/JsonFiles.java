package dev.ckptdiff.io;

import java.io.IOException;
import java.nio.file.Path;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * JSON side files (config.json and the like), read whole under a size cap. Every parse problem,
 * including Jackson's limits that carry no location (nesting depth), becomes one line naming the
 * file and, where known, the line and column.
 */
public final class JsonFiles {
    /** config.json files of real models are a few KiB; the largest (label maps, multimodal) stay well under 1 MiB. */
    public static final long MAX_CONFIG = 16L << 20;

    // Python's json module keeps the last of repeated keys; ObjectMapper's tree does the same.
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION).build();

    private JsonFiles() {
    }

    public static JsonNode read(Path file, long cap, String what) {
        byte[] bytes = SideFile.read(file, cap, what);
        try {
            JsonNode n = JSON.readTree(bytes);
            if (n == null || n.isMissingNode()) {
                throw BadInputException.in(file, "is empty, expected a JSON " + what);
            }
            return n;
        } catch (JacksonException e) {
            throw invalid(file, "is not valid JSON", e);
        } catch (IOException e) {
            throw BadInputException.io(file, "be read", e);
        }
    }

    /** "file: problem at line L, column C: reason", the location left out where Jackson has none. */
    public static BadInputException invalid(Path file, String problem, JacksonException e) {
        return BadInputException.in(file, problem + at(e.getLocation()) + ": " + reason(e));
    }

    public static String at(JsonLocation loc) {
        if (loc == null || loc.getLineNr() <= 0) {
            return "";
        }
        return " at line " + loc.getLineNr() + (loc.getColumnNr() > 0 ? ", column " + loc.getColumnNr() : "");
    }

    private static String reason(JacksonException e) {
        String m = e.getOriginalMessage();
        return m == null ? e.getClass().getSimpleName() : m.lines().findFirst().orElse("").strip();
    }
}
