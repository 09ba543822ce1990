package dev.ckptdiff.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Plain-text tables and human sizes. */
final class Text {
    private Text() {
    }

    /**
     * Text from a file, made fit to print on one line: control characters (C0, DEL, C1), line and paragraph
     * separators and bidirectional overrides are written as escapes ({@code \r}, {@code \x1b}, {@code \u202e}),
     * so a name cannot move the cursor, forge a line or reorder what follows it.
     */
    static String safe(String s) {
        if (s == null) {
            return "null";
        }
        int i = 0;
        while (i < s.length() && !isControl(s.charAt(i))) {
            i++;
        }
        if (i == s.length()) {
            return s;
        }
        StringBuilder sb = new StringBuilder(s.length() + 8).append(s, 0, i);
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            sb.append(isControl(c) ? escape(c) : String.valueOf(c));
        }
        return sb.toString();
    }

    static boolean isControl(char c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 || (c >= 0x202a && c <= 0x202e)
                || (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f || c == 0x061c;
    }

    static String escape(char c) {
        return switch (c) {
            case '\n' -> "\\n";
            case '\r' -> "\\r";
            case '\t' -> "\\t";
            default -> c < 0x100 ? String.format(Locale.ROOT, "\\x%02x", (int) c) : String.format(Locale.ROOT, "\\u%04x", (int) c);
        };
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
