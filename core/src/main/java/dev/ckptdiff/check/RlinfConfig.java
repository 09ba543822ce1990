package dev.ckptdiff.check;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import dev.ckptdiff.io.BadInputException;

/**
 * An RLinf (Hydra/OmegaConf) YAML file with its simple interpolations resolved on demand:
 * {@code ${a.b.c}} is replaced by that key's value, recursively. Resolver calls
 * ({@code ${subtract:...}}) and relative references ({@code ${.x}}) are left as written;
 * a reference to a key that does not exist is reported where its value is needed.
 */
public final class RlinfConfig {
    private static final Pattern REF = Pattern.compile("\\$\\{([A-Za-z_][\\w.\\-]*)}");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private final Path file;
    private final JsonNode root;

    private RlinfConfig(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    public static RlinfConfig read(Path file) {
        try {
            JsonNode root = YAML.readTree(file.toFile());
            if (root == null || !root.isObject()) {
                throw BadInputException.in(file, "is not a YAML mapping of settings");
            }
            return new RlinfConfig(file, root);
        } catch (JacksonException e) {
            String msg = e.getOriginalMessage() == null ? "" : e.getOriginalMessage().lines().findFirst().orElse("");
            throw BadInputException.in(file, "is not valid YAML at line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr() + ": " + msg);
        } catch (IOException e) {
            throw BadInputException.in(file, "cannot be read: " + e.getMessage());
        }
    }

    public Path file() {
        return file;
    }

    /** The raw node at a dotted path, or null. */
    public JsonNode raw(String path) {
        JsonNode n = root;
        for (String part : path.split("\\.")) {
            if (n == null || !n.isObject()) {
                return null;
            }
            n = n.get(part);
        }
        return n;
    }

    public boolean has(String path) {
        return raw(path) != null;
    }

    /** A value as text with references resolved; null when absent or YAML null. */
    public String text(String path) {
        JsonNode n = raw(path);
        if (n == null || n.isNull()) {
            return null;
        }
        return n.isValueNode() ? resolve(n.asText(), path, new ArrayDeque<>()) : n.toString();
    }

    public Boolean bool(String path) {
        String t = text(path);
        if (t == null) {
            return null;
        }
        return switch (t.strip().toLowerCase(java.util.Locale.ROOT)) {
            case "true", "yes", "on" -> true;
            case "false", "no", "off" -> false;
            default -> throw new BadInputException(file + ": " + path + " is '" + t + "', expected True or False");
        };
    }

    public Integer integer(String path) {
        String t = text(path);
        if (t == null) {
            return null;
        }
        try {
            return Integer.parseInt(t.strip());
        } catch (NumberFormatException e) {
            throw new BadInputException(file + ": " + path + " is '" + t + "', expected a whole number");
        }
    }

    private String resolve(String value, String at, Deque<String> chain) {
        Matcher m = REF.matcher(value);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String ref = m.group(1);
            if (chain.contains(ref) || chain.size() > 32) {
                throw new BadInputException(file + ": " + at + " refers to itself through " + chain);
            }
            JsonNode target = raw(ref);
            if (target == null) {
                throw new BadInputException(file + ": " + at + " is '" + value + "', but " + ref + " does not exist");
            }
            chain.push(ref);
            String v = target.isNull() ? "null" : target.isValueNode() ? resolve(target.asText(), ref, chain) : target.toString();
            chain.pop();
            m.appendReplacement(out, Matcher.quoteReplacement(v));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** A path from the config, relative ones taken from the YAML file's folder. */
    public Path path(String value) {
        Path p = Path.of(value);
        return p.isAbsolute() ? p : file.toAbsolutePath().getParent().resolve(p).normalize();
    }
}
