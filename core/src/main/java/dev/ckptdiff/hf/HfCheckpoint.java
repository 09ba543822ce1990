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
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.ckptdiff.io.BadInputException;
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
    private static final ObjectMapper JSON = new ObjectMapper();

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
            return new HfCheckpoint(path.getParent(), JSON.createObjectNode(), List.of(f), f.tensors());
        }
        Path cfgPath = path.resolve("config.json");
        JsonNode config = present(cfgPath) ? readConfig(cfgPath) : JSON.createObjectNode();
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Path index = path.resolve(INDEX);
            Path single = path.resolve(SINGLE);
            if (present(single) && present(index)) {
                // transformers (modeling_utils._get_resolved_checkpoint_files) looks for model.safetensors first.
                Warnings.warn(path + " holds both " + SINGLE + " and " + INDEX + " (two copies of the weights):"
                        + " reading " + SINGLE + ", as transformers loads it; the index's shards are ignored");
            }
            if (present(index) && !present(single)) {
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
                if (st.isEmpty()) {
                    throw BadInputException.in(path, "has no .safetensors files (looked for " + SINGLE + " and " + INDEX + ")");
                }
                if (st.size() > 1 && !present(single)) {
                    throw BadInputException.in(path, st.size() + " .safetensors files but no " + INDEX);
                }
                SafetensorsFile f = SafetensorsFile.open(present(single) ? single : st.getFirst());
                files.add(f);
                tensors.putAll(f.tensors());
            }
            return new HfCheckpoint(path, config, files, tensors);
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
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
