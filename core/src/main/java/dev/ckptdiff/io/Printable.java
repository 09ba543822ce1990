package dev.ckptdiff.io;

import java.util.Locale;

/**
 * Text from a file, made fit to print on one line: control characters (C0, DEL, C1), line and paragraph
 * separators and bidirectional overrides are written as escapes ({@code \r}, {@code \x1b}, {@code \u202e}),
 * so a name cannot move the cursor, forge a line or reorder what follows it. The data itself is kept as it
 * was; only its printed form changes. Core uses it where it builds lines (pickle trees); the CLI for all output.
 */
public final class Printable {
    private Printable() {
    }

    public static String escape(String s) {
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

    public static boolean isControl(char c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 || (c >= 0x202a && c <= 0x202e)
                || (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f || c == 0x061c;
    }

    public static String escape(char c) {
        return switch (c) {
            case '\n' -> "\\n";
            case '\r' -> "\\r";
            case '\t' -> "\\t";
            default -> c < 0x100 ? String.format(Locale.ROOT, "\\x%02x", (int) c)
                    : String.format(Locale.ROOT, "\\u%04x", (int) c);
        };
    }
}
