package dev.ckptdiff.hf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.JsonFiles;
import dev.ckptdiff.io.Warnings;
import dev.ckptdiff.safetensors.SafetensorsFile;
import dev.ckptdiff.tensor.Tensor;

/**
 * A HuggingFace model folder: {@code config.json} and its weights, one safetensors file or shards
 * listed in {@code model.safetensors.index.json}. Tensors are views of the mapped files.
 */
public final class HfCheckpoint implements AutoCloseable {
    public static final String INDEX = "model.safetensors.index.json";
    public static final String SINGLE = "model.safetensors";

    private final Path dir;
    private final JsonNode config;
    private final List<SafetensorsFile> files;
    private final Map<String, Tensor> tensors;

    private HfCheckpoint(Path dir, JsonNode config, List<SafetensorsFile> files, Map<String, Tensor> tensors) {
        this.dir = dir;
        this.config = config;
        this.files = files;
        this.tensors = tensors;
    }

    public static boolean isHf(Path dir) {
        return present(dir.resolve("config.json"))
                && (present(dir.resolve(SINGLE)) || present(dir.resolve(INDEX)) || !safetensorsIn(dir).isEmpty());
    }

    /** There and not a folder: a FIFO or device counts, so that opening it gives its own error. */
    private static boolean present(Path p) {
        return Files.exists(p) && !Files.isDirectory(p);
    }

    private static List<Path> safetensorsIn(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** A model's config.json, its sizes checked (see {@link ConfigJson}). */
    public static JsonNode readConfig(Path file) {
        return ConfigJson.read(file);
    }

    /** Opens a folder; a single {@code .safetensors} file is opened with no config. */
    public static HfCheckpoint open(Path path) {
        if (!Files.isDirectory(path)) {
            SafetensorsFile f = SafetensorsFile.open(path);
            return new HfCheckpoint(path.getParent(), JsonFiles.emptyObject(), List.of(f), f.tensors());
        }
        Path cfgPath = path.resolve("config.json");
        JsonNode config = present(cfgPath) ? readConfig(cfgPath) : JsonFiles.emptyObject();
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Path explicit = explicitWeights(path, config, cfgPath);
            Path single = explicit != null ? (isIndex(explicit) ? null : explicit)
                    : present(path.resolve(SINGLE)) ? path.resolve(SINGLE) : null;
            Path index = explicit != null ? (isIndex(explicit) ? explicit : null)
                    : single == null && present(path.resolve(INDEX)) ? path.resolve(INDEX) : null;
            if (explicit == null && single != null && present(path.resolve(INDEX))) {
                // transformers (modeling_utils._get_resolved_checkpoint_files) looks for model.safetensors first.
                Warnings.warn(path + " holds both " + SINGLE + " and " + INDEX + " (two copies of the weights):"
                        + " reading " + SINGLE + ", as transformers loads it; the index's shards are ignored");
            }
            if (index != null) {
                Map<String, String> weightMap = IndexJson.weightMap(index);
                Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
                for (Map.Entry<String, String> e : weightMap.entrySet()) {
                    String fileName = e.getValue();
                    SafetensorsFile f = byName.get(fileName);
                    if (f == null) {
                        Path fp = path.resolve(fileName);
                        if (!Files.exists(fp)) {
                            throw BadInputException.in(index, "weight_map['" + e.getKey() + "'] names " + fileName
                                    + ", which does not exist");
                        }
                        f = SafetensorsFile.open(fp);
                        files.add(f);
                        byName.put(fileName, f);
                    }
                    Tensor t = f.tensors().get(e.getKey());
                    if (t == null) {
                        throw BadInputException.in(index, "weight_map['" + e.getKey() + "'] names " + fileName
                                + ", which holds no tensor of that name");
                    }
                    tensors.put(e.getKey(), t);
                }
                for (SafetensorsFile f : files) {
                    for (String name : f.tensors().keySet()) {
                        if (!tensors.containsKey(name)) {
                            throw BadInputException.in(f.path(), "holds tensor '" + name + "', which " + INDEX
                                    + " does not list");
                        }
                    }
                }
            } else {
                List<Path> st = safetensorsIn(path);
                if (single == null && st.isEmpty()) {
                    throw BadInputException.in(path, "has no .safetensors files (looked for " + SINGLE + " and " + INDEX + ")");
                }
                if (single == null && st.size() > 1) {
                    throw BadInputException.in(path, st.size() + " .safetensors files but no " + INDEX);
                }
                SafetensorsFile f = SafetensorsFile.open(single != null ? single : st.getFirst());
                files.add(f);
                tensors.putAll(f.tensors());
            }
            return new HfCheckpoint(path, config, files, tensors);
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    private static boolean isIndex(Path p) {
        return p.getFileName().toString().endsWith(".safetensors.index.json");
    }

    /**
     * The weights file config.json names under {@code transformers_weights}, which transformers
     * loads in place of model.safetensors or the index (modeling_utils, transformers_explicit_filename);
     * it must be a safetensors file or index inside the folder, as transformers requires.
     */
    private static Path explicitWeights(Path dir, JsonNode config, Path cfgPath) {
        JsonNode v = config.get("transformers_weights");
        if (v == null || v.isNull()) {
            return null;
        }
        String name = v.isTextual() ? v.textValue() : v.toString();
        String shown = name.replace("\0", "\\0");
        if (!v.isTextual() || !(name.endsWith(".safetensors") || name.endsWith(".safetensors.index.json"))) {
            throw BadInputException.in(cfgPath, "transformers_weights is '" + shown + "', expected a .safetensors"
                    + " file or a .safetensors.index.json in this folder");
        }
        Path base = dir.toAbsolutePath().normalize();
        Path p;
        try {
            p = base.resolve(name).normalize();
        } catch (java.nio.file.InvalidPathException e) {
            throw BadInputException.in(cfgPath, "transformers_weights is '" + shown + "', which is not a usable path: "
                    + e.getReason());
        }
        if (!p.startsWith(base) || p.equals(base)) {
            throw BadInputException.in(cfgPath, "transformers_weights is '" + shown + "', which lies outside "
                    + dir + "; transformers refuses it too");
        }
        if (!Files.exists(p)) {
            throw BadInputException.in(cfgPath, "transformers_weights names " + shown + ", which does not exist");
        }
        return p;
    }

    public Path dir() {
        return dir;
    }

    public JsonNode config() {
        return config;
    }

    public List<SafetensorsFile> files() {
        return files;
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
