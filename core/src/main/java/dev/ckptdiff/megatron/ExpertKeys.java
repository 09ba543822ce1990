package dev.ckptdiff.megatron;

/**
 * Where a routed expert's number sits in a Megatron key: SequentialMLP's
 * {@code mlp.experts.local_experts.K.} or TEGroupedMLP's {@code mlp.experts.linear_fcN.weightK}
 * (and {@code biasK}). In a legacy shard K is local to the expert-parallel rank.
 */
public final class ExpertKeys {
    private static final String SEQUENTIAL = ".mlp.experts.local_experts.";
    private static final String GROUPED = ".mlp.experts.linear_fc";
    private static final String[] PARAMETERS = {"weight", "bias"};

    private ExpertKeys() {
    }

    /** The [start, end) of the expert number in {@code key}, or null when the key is not one expert's. */
    static int[] span(String key) {
        int at = key.indexOf(SEQUENTIAL);
        if (at >= 0) {
            int start = at + SEQUENTIAL.length();
            int end = digitsEnd(key, start);
            return end > start && end < key.length() && key.charAt(end) == '.' ? new int[]{start, end} : null;
        }
        at = key.indexOf(GROUPED);
        if (at < 0) {
            return null;
        }
        int dot = key.indexOf('.', at + GROUPED.length());
        if (dot < 0) {
            return null;
        }
        for (String p : PARAMETERS) {
            if (key.startsWith(p, dot + 1)) {
                int start = dot + 1 + p.length();
                int end = digitsEnd(key, start);
                return end > start && end == key.length() ? new int[]{start, end} : null;
            }
        }
        return null;
    }

    private static int digitsEnd(String key, int from) {
        int i = from;
        while (i < key.length() && i - from < 6 && Character.isDigit(key.charAt(i))) {
            i++;
        }
        return i;
    }

    /** The expert number in {@code key}, or -1. */
    public static int expertOf(String key) {
        int[] s = span(key);
        return s == null ? -1 : Integer.parseInt(key, s[0], s[1], 10);
    }

    /** True for TEGroupedMLP's {@code weightK} form. */
    public static boolean grouped(String key) {
        int[] s = span(key);
        return s != null && grouped(key, s);
    }

    static boolean grouped(String key, int[] span) {
        return key.charAt(span[0] - 1) != '.';
    }

    /** {@code key} with its expert number replaced. */
    public static String withExpert(String key, int expert) {
        int[] s = span(key);
        return s == null ? key : key.substring(0, s[0]) + expert + key.substring(s[1]);
    }
}
