package dev.ckptdiff.check;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One part of a check report (an HF folder, a Megatron checkpoint, a layout, a config file). */
public record Section(String title, String path, Map<String, String> facts, List<Finding> findings) {
    public Section(String title, String path) {
        this(title, path, new LinkedHashMap<>(), new ArrayList<>());
    }

    /**
     * Merges findings that say the same thing about subjects differing only in numbers (layers,
     * ranks, experts) into one finding that lists where.
     */
    public Section coalesced() {
        Map<List<String>, List<Finding>> groups = new LinkedHashMap<>();
        for (Finding f : findings) {
            groups.computeIfAbsent(List.of(f.severity().name(), f.message(), f.subject().replaceAll("(?<=[._])\\d+(?=[.\\s]|$)", "N")),
                    k -> new ArrayList<>()).add(f);
        }
        List<Finding> out = new ArrayList<>();
        for (Map.Entry<List<String>, List<Finding>> g : groups.entrySet()) {
            List<Finding> fs = g.getValue();
            if (fs.size() == 1) {
                out.add(fs.getFirst());
                continue;
            }
            List<String> where = fs.stream().map(Finding::subject).toList();
            String shown = String.join(", ", where.subList(0, Math.min(8, where.size())))
                    + (where.size() > 8 ? ", ... " + (where.size() - 8) + " more" : "");
            out.add(new Finding(fs.getFirst().severity(), g.getKey().get(2), fs.getFirst().message() + " (" + fs.size()
                    + " places: " + shown + ")"));
        }
        return new Section(title, path, facts, out);
    }

    public long errors() {
        return findings.stream().filter(f -> f.severity() == Severity.ERROR).count();
    }
}
