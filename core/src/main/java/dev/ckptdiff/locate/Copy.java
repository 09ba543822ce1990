package dev.ckptdiff.locate;

import java.nio.file.Path;

/** One copy of a model: an HF folder (or lone safetensors file) or a Megatron checkpoint. */
public record Copy(Kind kind, Path path, String label) {
    public enum Kind { HF, MEGATRON }

    @Override
    public String toString() {
        return label;
    }
}
