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

    public record TensorRow(String name, String dtype, long[] shape, long bytes, String location) {
    }
}
