package dev.ckptdiff.diff;

import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;

/**
 * Orders keys with embedded numbers numerically (layers.2 before layers.10). Sorting tens of
 * thousands of MoE keys compares each ~15 times: {@link #sortBy} turns every key once into a sort
 * key that plain {@link String#compareTo} orders the same way, and falls back to {@link #compare}
 * for the keys that encoding cannot express.
 */
public final class NaturalOrder {
    /** Longest digit run the sort key encodes: its length is written as one digit. */
    private static final int MAX_ENCODED_DIGITS = 9;

    private NaturalOrder() {
    }

    public static int compare(String a, String b) {
        // Numbers are read in place, not parsed from substrings.
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            char x = a.charAt(i);
            char y = b.charAt(j);
            if (isDigit(x) && isDigit(y)) {
                int ei = digitsEnd(a, i);
                int ej = digitsEnd(b, j);
                int c = Long.compare(leadingValue(a, i, ei), leadingValue(b, j, ej));
                if (c != 0) {
                    return c;
                }
                i = ei;
                j = ej;
            } else {
                if (x != y) {
                    return Character.compare(x, y);
                }
                i++;
                j++;
            }
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    public static void sort(List<String> keys) {
        sortBy(keys, Function.identity(), null);
    }

    /**
     * Sorts {@code items} by the natural order of their names, then by {@code thenBy} (may be null);
     * stable, like {@link List#sort}.
     */
    public static <T> void sortBy(List<T> items, Function<? super T, String> name, Comparator<? super T> thenBy) {
        int n = items.size();
        String[] keys = new String[n];
        for (int i = 0; i < n; i++) {
            keys[i] = sortKey(name.apply(items.get(i)));
            if (keys[i] == null) {
                Comparator<T> natural = (x, y) -> compare(name.apply(x), name.apply(y));
                items.sort(thenBy == null ? natural : natural.thenComparing(thenBy));
                return;
            }
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Comparator<Integer> byKey = (x, y) -> keys[x].compareTo(keys[y]);
        Arrays.sort(order, thenBy == null ? byKey
                : byKey.thenComparing((x, y) -> thenBy.compare(items.get(x), items.get(y))));
        Object[] sorted = new Object[n];
        for (int i = 0; i < n; i++) {
            sorted[i] = items.get(order[i]);
        }
        for (int i = 0; i < n; i++) {
            @SuppressWarnings("unchecked")
            T t = (T) sorted[i];
            items.set(i, t);
        }
    }

    /**
     * A key whose {@code compareTo} order is this natural order: every digit run becomes its length
     * (one digit, so longer numbers sort later) followed by its digits. Equal runs then encode
     * equally, and a run's length digit stands where its first digit stood, which compares with any
     * non-digit exactly as that digit would. Null when a run has a leading zero ("007" equals "7"
     * here but not as text), is longer than nine digits, or the key is not ASCII.
     */
    static String sortKey(String s) {
        StringBuilder b = null;
        int copied = 0;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c >= 0x80) {
                return null;
            }
            if (c < '0' || c > '9') {
                i++;
                continue;
            }
            int end = digitsEnd(s, i);
            int len = end - i;
            if (len > MAX_ENCODED_DIGITS || (c == '0' && len > 1)) {
                return null;
            }
            if (b == null) {
                b = new StringBuilder(s.length() + 8);
            }
            b.append(s, copied, i).append((char) ('0' + len)).append(s, i, end);
            copied = end;
            i = end;
        }
        return b == null ? s : b.append(s, copied, s.length()).toString();
    }

    private static boolean isDigit(char c) {
        return c < 0x100 ? c >= '0' && c <= '9' : Character.isDigit(c);
    }

    private static int digitsEnd(String s, int from) {
        int i = from;
        while (i < s.length() && isDigit(s.charAt(i))) {
            i++;
        }
        return i;
    }

    /** The value of a run's first 18 digits at most, so it fits a long. */
    private static long leadingValue(String s, int from, int end) {
        long v = 0;
        for (int i = from; i < Math.min(end, from + 18); i++) {
            v = v * 10 + Character.digit(s.charAt(i), 10);
        }
        return v;
    }
}
