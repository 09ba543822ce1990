package dev.ckptdiff.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import dev.ckptdiff.io.Printable;

/** Plain-text tables and human sizes. */
final class Text {
    private Text() {
    }

    /** Text from a file, made fit to print on one line ({@link Printable#escape(String)}). */
    static String safe(String s) {
        return Printable.escape(s);
    }

    static boolean isControl(char c) {
        return Printable.isControl(c);
    }

    static String escape(char c) {
        return Printable.escape(c);
    }

    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /** Left-aligned columns separated by two spaces; the last column is not padded. */
    static List<String> table(List<String[]> rows) {
        if (rows.isEmpty()) {
            return List.of();
        }
        int cols = rows.stream().mapToInt(r -> r.length).max().orElse(0);
        int[] width = new int[cols];
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        List<String> out = new ArrayList<>();
        for (String[] r : rows) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < r.length; i++) {
                sb.append(r[i]);
                if (i < r.length - 1) {
                    sb.append(" ".repeat(width[i] - r[i].length() + 2));
                }
            }
            out.add(sb.toString().stripTrailing());
        }
        return out;
    }
}
