package dev.ckptdiff.diff;

import java.util.List;
import java.util.Map;

/**
 * One copy of a model as the diff sees it: tensors under HF names (assembled from shards where
 * needed), internal checks, notes about what was skipped and why, and problems: defects of the copy
 * itself (layers its shards lack) that no tensor comparison can show, each a finding.
 */
public record ModelView(String label, String kind, Map<String, Assembled> tensors, List<Check> checks,
                        List<String> notes, List<String> problems) {
}
