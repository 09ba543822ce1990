package dev.ckptdiff.check;

import java.io.StringReader;
import java.math.BigInteger;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Tag;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.SideFile;

/**
 * Reads an RLinf YAML file as OmegaConf does: PyYAML's safe loader (aliases and merge keys
 * resolved, a repeated key an error, timestamps left as text). SnakeYAML builds each anchored value
 * once and shares it; expanding the shares into a tree is bounded, so that a few lines of nested
 * aliases cannot stand for billions of values.
 */
final class RlinfYaml {
    /** RLinf configs are tens of KiB. */
    static final long MAX_BYTES = 4L << 20;
    /** Values after expanding aliases; real configs hold a few thousand. */
    static final int MAX_VALUES = 100_000;
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private RlinfYaml() {
    }

    static JsonNode read(Path file) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(SideFile.read(file, MAX_BYTES, "RLinf YAML file"))).toString();
        } catch (CharacterCodingException e) {
            throw BadInputException.in(file, "is not UTF-8 text");
        }
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        options.setMaxAliasesForCollections(1_000);
        options.setNestingDepthLimit(100);
        options.setCodePointLimit((int) MAX_BYTES + 1);
        Object doc;
        try {
            doc = new Yaml(new OmegaConfConstructor(options)).load(new StringReader(text));
        } catch (MarkedYAMLException e) {
            Mark m = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String where = m == null ? "" : " at line " + (m.getLine() + 1) + ", column " + (m.getColumn() + 1);
            String problem = e.getProblem() != null ? e.getProblem() : e.getContext();
            throw BadInputException.in(file, "is not valid YAML" + where + ": " + firstLine(problem));
        } catch (YAMLException e) {
            throw BadInputException.in(file, "is not valid YAML: " + firstLine(e.getMessage()));
        } catch (StackOverflowError e) {
            throw BadInputException.in(file, "is not valid YAML: nested too deeply");
        }
        if (!(doc instanceof Map<?, ?>)) {
            throw BadInputException.in(file, "is not a YAML mapping of settings");
        }
        return new Expansion(file).tree(doc, "");
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("").strip();
    }

    /** PyYAML's SafeLoader as OmegaConf configures it: timestamps stay strings. */
    private static final class OmegaConfConstructor extends SafeConstructor {
        OmegaConfConstructor(LoaderOptions options) {
            super(options);
            yamlConstructors.put(Tag.TIMESTAMP, new ConstructYamlStr());
        }
    }

    /** Shared (aliased) values copied into a tree, with a budget and a check for values that contain themselves. */
    private static final class Expansion {
        private final Path file;
        private final IdentityHashMap<Object, Boolean> open = new IdentityHashMap<>();
        private int count;

        Expansion(Path file) {
            this.file = file;
        }

        JsonNode tree(Object v, String at) {
            if (++count > MAX_VALUES) {
                throw BadInputException.in(file, "holds more than " + MAX_VALUES + " values once its aliases are"
                        + " expanded (at " + at + "); real configs hold a few thousand");
            }
            return switch (v) {
                case null -> NODES.nullNode();
                case String s -> NODES.textNode(s);
                case Boolean b -> NODES.booleanNode(b);
                case Integer i -> NODES.numberNode(i);
                case Long l -> NODES.numberNode(l);
                case BigInteger b -> NODES.numberNode(b);
                case Double d -> NODES.numberNode(d);
                case byte[] b -> NODES.binaryNode(b);
                case Map<?, ?> map -> container(map, at, () -> {
                    ObjectNode o = NODES.objectNode();
                    for (Map.Entry<?, ?> e : map.entrySet()) {
                        String key = String.valueOf(e.getKey());
                        o.set(key, tree(e.getValue(), at.isEmpty() ? key : at + "." + key));
                    }
                    return o;
                });
                case Collection<?> list -> container(list, at, () -> {
                    ArrayNode a = NODES.arrayNode();
                    int i = 0;
                    for (Object x : list) {
                        a.add(tree(x, at + "[" + i++ + "]"));
                    }
                    return a;
                });
                default -> NODES.textNode(String.valueOf(v));
            };
        }

        private JsonNode container(Object c, String at, java.util.function.Supplier<JsonNode> build) {
            if (open.put(c, Boolean.TRUE) != null) {
                throw BadInputException.in(file, (at.isEmpty() ? "the document" : at)
                        + " contains itself through an alias; OmegaConf cannot hold it either");
            }
            try {
                return build.get();
            } finally {
                open.remove(c);
            }
        }
    }
}
