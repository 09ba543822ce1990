package dev.ckptdiff.diff;

import java.util.LinkedHashMap;
import java.util.Map;

/** Wall time per phase of one comparison, for {@code --timings}. */
public final class Timings {
    private final Map<String, Double> phases = new LinkedHashMap<>();
    private long last = System.nanoTime();

    public void mark(String phase) {
        long now = System.nanoTime();
        phases.merge(phase, (now - last) / 1e9, Double::sum);
        last = now;
    }

    public Map<String, Double> phases() {
        return phases;
    }
}
