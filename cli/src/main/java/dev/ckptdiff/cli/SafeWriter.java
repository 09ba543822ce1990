package dev.ckptdiff.cli;

import java.io.PrintWriter;

/**
 * The writer every line of output goes through. Names, keys and paths come from files a stranger may have made;
 * a carriage return or an escape sequence in one could redraw the verdict line on a terminal. So every control
 * character is shown escaped, except the newlines and tabs the report itself writes and, when colour is on,
 * well-formed SGR colour sequences (which only change colours, never move the cursor). Data is also escaped where it
 * is put into a line ({@link Text#safe}), so a newline in a name cannot forge a line either; this writer is the net
 * under that.
 */
final class SafeWriter extends PrintWriter {
    private final PrintWriter raw;
    private volatile boolean allowColour;

    private SafeWriter(PrintWriter raw) {
        super(raw, true);
        this.raw = raw;
    }

    static SafeWriter wrap(PrintWriter w) {
        return w instanceof SafeWriter s ? s : new SafeWriter(w);
    }

    /** The unfiltered writer, for the progress bar's own carriage returns. */
    static PrintWriter raw(PrintWriter w) {
        return w instanceof SafeWriter s ? s.raw : w;
    }

    static void allowColour(PrintWriter w, boolean on) {
        if (w instanceof SafeWriter s) {
            s.allowColour = on;
        }
    }

    @Override
    public void write(int c) {
        write(String.valueOf((char) c), 0, 1);
    }

    @Override
    public void write(char[] buf, int off, int len) {
        write(new String(buf, off, len), 0, len);
    }

    @Override
    public void write(String s, int off, int len) {
        int end = off + len;
        int plainFrom = off;
        for (int i = off; i < end; i++) {
            char c = s.charAt(i);
            if (c == '\n' || c == '\t' || !Text.isControl(c)) {
                continue;
            }
            int sgrEnd = c == 0x1b && allowColour ? sgrEnd(s, i, end) : -1;
            if (sgrEnd > 0) {
                i = sgrEnd - 1;
                continue;
            }
            raw.write(s, plainFrom, i - plainFrom);
            raw.write(Text.escape(c));
            plainFrom = i + 1;
        }
        raw.write(s, plainFrom, end - plainFrom);
    }

    /** End of an {@code ESC [ digits;… m} sequence starting at i, or -1. */
    private static int sgrEnd(String s, int i, int end) {
        if (i + 2 >= end || s.charAt(i + 1) != '[') {
            return -1;
        }
        for (int j = i + 2; j < end && j < i + 32; j++) {
            char c = s.charAt(j);
            if (c == 'm') {
                return j + 1;
            }
            if (!(c >= '0' && c <= '9') && c != ';') {
                return -1;
            }
        }
        return -1;
    }

    @Override
    public void flush() {
        raw.flush();
    }

    @Override
    public void close() {
        raw.close();
    }
}
