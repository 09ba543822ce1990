package dev.ckptdiff.inspect;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;

/** What {@code inspect} found at a path: one entry per model copy. */
public record Inspection(Path input, List<CopyInfo> copies) {

    /** One copy: what it is, the facts that matter, its tensors, and (on request) its pickle tree. */
    public record CopyInfo(String kind, String role, Path path, Map<String, String> facts, List<TensorRow> tensors,
                           List<String> notes, List<String> tree, JsonNode treeJson) {
    }

    /**
     * @param file  the file, or for Megatron the rank folder, holding the tensor
     * @param key   its key in that file (Megatron: the local layer number), equal to name elsewhere
     * @param chunk Megatron's model chunk ({@code model}, {@code model0}, ...), else empty
     */
    public record TensorRow(String name, String dtype, long[] shape, long bytes, String file, String key, String chunk,
                            String sha256) {
    }
}
