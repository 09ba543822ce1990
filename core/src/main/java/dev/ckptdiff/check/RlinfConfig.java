package dev.ckptdiff.check;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.io.BadInputException;

/**
 * An RLinf (Hydra/OmegaConf) YAML file with its simple interpolations resolved on demand:
 * {@code ${a.b.c}} is replaced by that key's value, recursively. Resolver calls
 * ({@code ${subtract:...}}) and relative references ({@code ${.x}}) are left as written;
 * a reference to a key that does not exist is reported where its value is needed.
 */
public final class RlinfConfig {
    private static final Pattern REF = Pattern.compile("\\$\\{([A-Za-z_][\\w.\\-]*)}");
    /** Resolved values beyond this are not paths or settings but an interpolation bomb. */
    static final int MAX_RESOLVED = 1 << 16;
    private static final int MAX_DEPTH = 256;

    private final Path file;
    private final JsonNode root;

    private final Map<String, String> resolved = new HashMap<>();

    private RlinfConfig(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    public static RlinfConfig read(Path file) {
        return new RlinfConfig(file, RlinfYaml.read(file));
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
            String v = resolved.get(ref);
            if (v == null) {
                if (chain.contains(ref) || chain.size() > MAX_DEPTH) {
                    List<String> cycle = new ArrayList<>(chain.reversed());
                    cycle.add(ref);
                    throw new BadInputException(file + ": " + at + " refers to itself through "
                            + String.join(" -> ", cycle));
                }
                JsonNode target = raw(ref);
                if (target == null) {
                    throw new BadInputException(file + ": " + at + " is '" + value + "', but " + ref + " does not exist");
                }
                chain.push(ref);
                v = target.isNull() ? "null" : target.isValueNode() ? resolve(target.asText(), ref, chain) : target.toString();
                chain.pop();
                // Each reference is resolved once: a chain of values that double at every level stays linear.
                resolved.put(ref, v);
            }
            if ((long) out.length() + v.length() > MAX_RESOLVED) {
                throw new BadInputException(file + ": " + at + " resolves to more than " + MAX_RESOLVED
                        + " characters (interpolations that repeat each other?)");
            }
            m.appendReplacement(out, Matcher.quoteReplacement(v));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** A path from the config under {@code key}, relative ones taken from the YAML file's folder. */
    public Path path(String key, String value) {
        Path p;
        try {
            p = Path.of(value);
        } catch (java.nio.file.InvalidPathException e) {
            throw new BadInputException(file + ": " + key + " is '" + value.replace("\0", "\\0")
                    + "', which is not a usable path: " + e.getReason());
        }
        return p.isAbsolute() ? p : file.toAbsolutePath().getParent().resolve(p).normalize();
    }
}
