package dev.ckptdiff.io;

import java.io.IOException;
import java.nio.file.Path;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
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
        try (JsonParser p = JSON.createParser(bytes)) {
            try {
                JsonNode n = JSON.readTree(p);
                if (n == null || n.isMissingNode()) {
                    throw BadInputException.in(file, "is empty, expected a JSON " + what);
                }
                if (p.nextToken() != null) {
                    throw BadInputException.in(file, "holds data after its JSON value" + at(p.currentLocation()));
                }
                return n;
            } catch (JacksonException e) {
                throw invalid(file, "is not valid JSON", e, p);
            }
        } catch (IOException e) {
            throw BadInputException.io(file, "be read", e);
        }
    }

    /**
     * "file: problem at line L, column C: reason". Jackson's limits (nesting depth, string length)
     * carry no location; the parser's position stands in for it.
     */
    public static BadInputException invalid(Path file, String problem, JacksonException e, JsonParser p) {
        return BadInputException.in(file, problem + at(location(e, p)) + ": " + reason(e));
    }

    /** Where the error happened: the exception's own location, else the parser's position (null if neither). */
    public static JsonLocation location(JacksonException e, JsonParser p) {
        JsonLocation loc = e.getLocation();
        if (loc != null && (loc.getLineNr() > 0 || loc.getByteOffset() >= 0)) {
            return loc;
        }
        return p == null ? null : p.currentLocation();
    }

    public static String at(JsonLocation loc) {
        if (loc == null || loc.getLineNr() <= 0) {
            return "";
        }
        return " at line " + loc.getLineNr() + (loc.getColumnNr() > 0 ? ", column " + loc.getColumnNr() : "");
    }

    /** The parser's complaint, one line, without Jackson's configuration hints. */
    public static String reason(JacksonException e) {
        String m = e.getOriginalMessage();
        // Jackson's limits name their configuration knob in backquotes: of no use to the reader.
        return m == null ? "unreadable" : m.lines().findFirst().orElse("").replaceAll(", from `[^`]*`", "").strip();
    }
}
