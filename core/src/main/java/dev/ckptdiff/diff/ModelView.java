package dev.ckptdiff.diff;

import java.util.List;
import java.util.Map;

/**
 * One copy of a model as the diff sees it: tensors under HF names (assembled from shards where
 * needed), internal checks, and notes about what was skipped and why.
 */
public record ModelView(String label, String kind, Map<String, Assembled> tensors, List<Check> checks,
                        List<String> notes) {
}
