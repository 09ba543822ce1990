package dev.ckptdiff.io;

import java.io.IOException;
import java.nio.file.Path;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * JSON side files (config.json and the like), read whole under a size cap. Every parse problem,
 * including Jackson's limits that carry no location (nesting depth), becomes one line naming the
 * file and, where known, the line and column.
 */
public final class JsonFiles {
    /** config.json files of real models are a few KiB; the largest (label maps, multimodal) stay well under 1 MiB. */
    public static final long MAX_CONFIG = 16L << 20;

    // A parser and a tree built from its tokens, without an ObjectMapper: its class set-up (date formats, locale
    // providers) costs every run some 30 ms before the first tensor is read.
    private static final JsonFactory JSON = JsonFactory.builder()
            .enable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION).build();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private JsonFiles() {
    }

    public static JsonNode read(Path file, long cap, String what) {
        byte[] bytes = SideFile.read(file, cap, what);
        try (JsonParser p = JSON.createParser(bytes)) {
            try {
                JsonNode n = p.nextToken() == null ? null : tree(p);
                if (n == null) {
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

    /** An empty JSON object. */
    public static ObjectNode emptyObject() {
        return NODES.objectNode();
    }

    /**
     * The value at the parser's current token, as ObjectMapper's readTree builds it: Python's json module keeps the
     * last of repeated keys (in the first one's place), integers take the smallest node that holds them, other
     * numbers are doubles. Nesting is bounded by the parser's own depth limit.
     */
    static JsonNode tree(JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        return switch (t) {
            case START_OBJECT -> {
                ObjectNode o = NODES.objectNode();
                for (String name = p.nextFieldName(); name != null; name = p.nextFieldName()) {
                    p.nextToken();
                    o.set(name, tree(p));
                }
                yield o;
            }
            case START_ARRAY -> {
                ArrayNode a = NODES.arrayNode();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    a.add(tree(p));
                }
                yield a;
            }
            case VALUE_STRING -> NODES.textNode(p.getText());
            case VALUE_NUMBER_INT -> switch (p.getNumberType()) {
                case INT -> NODES.numberNode(p.getIntValue());
                case LONG -> NODES.numberNode(p.getLongValue());
                default -> NODES.numberNode(p.getBigIntegerValue());
            };
            case VALUE_NUMBER_FLOAT -> NODES.numberNode(p.getDoubleValue());
            case VALUE_TRUE -> NODES.booleanNode(true);
            case VALUE_FALSE -> NODES.booleanNode(false);
            case VALUE_NULL -> NODES.nullNode();
            default -> throw new IllegalStateException("unexpected JSON token " + t);
        };
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
