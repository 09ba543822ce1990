package dev.ckptdiff.mapping;

import java.util.Collection;

/**
 * The two key layouts transformers releases have saved vision-language models in (FORMATS.md section
 * 12): the older {@code model.layers.*} + {@code visual.*}, and {@code model.language_model.*} +
 * {@code model.visual.*}. They name the same tensors; a name converts between them with the same
 * prefix rules transformers' own conversion mapping uses.
 */
public enum HfKeyLayout {
    FLAT("model.* + visual.*"),
    NESTED("model.language_model.* + model.visual.*");

    private static final String LM = "model.language_model.";
    private static final String VISUAL = "model.visual.";

    public final String describe;

    HfKeyLayout(String describe) {
        this.describe = describe;
    }

    /** The layout a set of HF names is in; FLAT when nothing says otherwise. */
    public static HfKeyLayout of(Collection<String> names) {
        return names.stream().anyMatch(n -> n.startsWith(LM) || n.startsWith(VISUAL)) ? NESTED : FLAT;
    }

    /** True when the names hold a vision tower in either layout. */
    public static boolean hasVision(Collection<String> names) {
        for (String n : names) { // every tensor of both copies: a loop, not a stream
            if (n.startsWith("visual.") || n.startsWith(VISUAL)) {
                return true;
            }
        }
        return false;
    }

    /** {@code name} (in either layout) in this layout. */
    public String apply(String name) {
        return switch (this) {
            case NESTED -> name.startsWith("visual.") ? "model." + name
                    : name.startsWith("model.") && !name.startsWith(LM) && !name.startsWith(VISUAL)
                    ? LM + name.substring("model.".length()) : name;
            case FLAT -> name.startsWith(VISUAL) ? name.substring("model.".length())
                    : name.startsWith(LM) ? "model." + name.substring(LM.length()) : name;
        };
    }
}
