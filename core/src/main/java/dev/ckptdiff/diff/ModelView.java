package dev.ckptdiff.diff;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.ckptdiff.mapping.HfKeyLayout;

/**
 * One copy of a model as the diff sees it: tensors under HF names (assembled from shards where
 * needed), internal checks, notes about what was skipped and why, and problems: defects of the copy
 * itself (layers its shards lack) that no tensor comparison can show, each a finding.
 */
public record ModelView(String label, String kind, Map<String, Assembled> tensors, List<Check> checks,
                        List<String> notes, List<String> problems) {

    /** This view with every tensor named in {@code layout} (vision-language models have two). */
    public ModelView inLayout(HfKeyLayout layout) {
        Map<String, Assembled> renamed = new LinkedHashMap<>();
        tensors.forEach((name, a) -> renamed.put(layout.apply(name),
                new Assembled(layout.apply(name), a.shape(), a.pieces(), a.paddedRows())));
        return renamed.keySet().equals(tensors.keySet()) ? this
                : new ModelView(label, kind, renamed, checks, notes, problems);
    }
}
