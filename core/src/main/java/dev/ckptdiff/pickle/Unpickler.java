package dev.ckptdiff.pickle;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.ByteWindow;

/**
 * A pickle interpreter that builds {@link Py} values instead of objects: protocols 0 to 5, every
 * opcode a checkpoint uses, and limits on memo, stack, marks and nesting. Each opcode is one case
 * of one switch over a cursor into the (mapped) bytes; each length field is checked against the
 * bytes that remain before anything is allocated for it.
 */
public final class Unpickler {
    /**
     * LONG4 integers longer than this are kept by size only ({@link Py.HugeInt}). 1 KiB is 8,192 bits,
     * about 2,466 decimal digits: below the 4,300 digits CPython itself will still print, and converted in
     * microseconds; no setting or count in a checkpoint comes near it.
     */
    static final int MAX_INT_BYTES = 1024;
    /** CPython's default {@code sys.get_int_max_str_digits()}: longer text integers are refused as it does. */
    static final int MAX_INT_DIGITS = 4300;
    private final MemorySegment data;
    private final String source;
    private final Reducer reducer;
    private final PickleLimits limits;
    private long pos;
    /** The pickle read through an array window: tens of thousands of small operands, read while the JIT is cold. */
    private final ByteWindow in;

    private final ArrayList<Py> stack = new ArrayList<>();
    private int[] marks = new int[16];
    private int markCount;
    private Py[] memo = new Py[64];
    private int memoCount;

    private Unpickler(MemorySegment data, String source, Reducer reducer, PickleLimits limits) {
        this.data = data;
        this.in = new ByteWindow(data);
        this.source = source;
        this.reducer = reducer;
        this.limits = limits;
    }

    /** Interprets one pickle starting at offset 0; {@code source} names it in errors. */
    public static Py load(MemorySegment data, String source, Reducer reducer, PickleLimits limits) {
        return new Unpickler(data, source, reducer, limits).run(0);
    }

    private BadInputException error(long at, String problem) {
        return PickleException.at(source, at, problem);
    }

    private Py run(long start) {
        pos = start;
        while (true) {
            if (pos >= data.byteSize()) {
                throw error(pos, "pickle ends without a STOP opcode (truncated?)");
            }
            long at = pos;
            int op = u8();
            switch (op) {
                case 0x80 -> { // PROTO
                    int proto = u8();
                    if (proto > 5) {
                        throw error(at, "pickle protocol " + proto + " is newer than 5");
                    }
                }
                case 0x95 -> { // FRAME: framing is only a read-ahead hint
                    long len = i64();
                    need(at, len < 0 ? Long.MAX_VALUE : 0, "frame");
                }
                case '.' -> { // STOP
                    if (stack.size() != 1 || markCount != 0) {
                        throw error(at, "STOP with " + stack.size() + " values on the stack, expected 1");
                    }
                    return stack.getFirst();
                }
                case '(' -> mark(at);
                case '0' -> pop(at);
                case '1' -> popMark(at);
                case '2' -> push(at, peek(at));
                case 'N' -> push(at, Py.None.INSTANCE);
                case 0x88 -> push(at, new Py.Bool(true));
                case 0x89 -> push(at, new Py.Bool(false));
                case 'J' -> push(at, new Py.Int((int) in.le(take(at, 4), 4)));
                case 'K' -> push(at, new Py.Int(u8()));
                case 'M' -> push(at, new Py.Int(in.le(take(at, 2), 2)));
                case 0x8a -> push(at, longFromBytes(at, u8()));
                case 0x8b -> {
                    long n = (int) in.le(take(at, 4), 4);
                    int len = checkLength(at, n);
                    push(at, len > MAX_INT_BYTES ? hugeInt(at, len) : longFromBytes(at, len));
                }
                case 'I' -> push(at, parseIntLine(at, line(at)));
                case 'L' -> {
                    String s = line(at);
                    push(at, parseIntLine(at, s.endsWith("L") ? s.substring(0, s.length() - 1) : s));
                }
                case 'F' -> {
                    String s = line(at);
                    try {
                        push(at, new Py.Float(pythonFloat(s)));
                    } catch (NumberFormatException e) {
                        throw error(at, "FLOAT '" + shorten(s) + "' is not a number");
                    }
                }
                case 'G' -> push(at, new Py.Float(Double.longBitsToDouble(Long.reverseBytes(in.le(take(at, 8), 8)))));
                case 'X' -> push(at, new Py.Str(utf8(at, checkLength(at, u32()))));
                case 0x8c -> push(at, new Py.Str(utf8(at, u8())));
                case 0x8d -> push(at, new Py.Str(utf8(at, checkLength(at, i64()))));
                case 'V' -> push(at, new Py.Str(rawUnicodeEscape(at, line(at))));
                case 'S' -> push(at, new Py.Bytes(pythonStringLiteral(at, line(at))));
                case 'T' -> push(at, new Py.Bytes(bytes(at, checkLength(at, (int) in.le(take(at, 4), 4)))));
                case 'U' -> push(at, new Py.Bytes(bytes(at, u8())));
                case 'B' -> push(at, new Py.Bytes(bytes(at, checkLength(at, u32()))));
                case 'C' -> push(at, new Py.Bytes(bytes(at, u8())));
                case 0x8e, 0x96 -> push(at, new Py.Bytes(bytes(at, checkLength(at, i64())))); // BINBYTES8, BYTEARRAY8
                case 0x97, 0x98 -> throw error(at, "out-of-band pickle buffers (protocol 5) are not part of a checkpoint");
                case ']' -> push(at, new Py.PyList());
                case ')' -> push(at, Py.Tuple.of(List.of()));
                case '}' -> push(at, new Py.Dict());
                case 0x8f -> push(at, new Py.Set(false));
                case 'l' -> {
                    Py.PyList l = new Py.PyList();
                    for (Py p : popToMark(at)) {
                        append(at, l, p);
                    }
                    push(at, l);
                }
                case 't' -> push(at, tuple(at, popToMark(at)));
                case 0x85 -> push(at, tuple(at, popN(at, 1)));
                case 0x86 -> push(at, tuple(at, popN(at, 2)));
                case 0x87 -> push(at, tuple(at, popN(at, 3)));
                case 'd' -> {
                    Py.Dict d = new Py.Dict();
                    setItems(at, d, popToMark(at));
                    push(at, d);
                }
                case 'a' -> {
                    Py v = pop(at);
                    appendTo(at, peek(at), List.of(v));
                }
                case 'e' -> {
                    List<Py> items = popToMark(at);
                    appendTo(at, peek(at), items);
                }
                case 's' -> {
                    Py v = pop(at);
                    Py k = pop(at);
                    if (!(peek(at) instanceof Py.Dict d)) {
                        throw error(at, "SETITEM on a " + kind(peek(at)) + ", expected a dict");
                    }
                    setItems(at, d, List.of(k, v));
                }
                case 'u' -> {
                    List<Py> items = popToMark(at);
                    if (!(peek(at) instanceof Py.Dict d)) {
                        throw error(at, "SETITEMS on a " + kind(peek(at)) + ", expected a dict");
                    }
                    setItems(at, d, items);
                }
                case 0x90 -> { // ADDITEMS
                    List<Py> items = popToMark(at);
                    if (!(peek(at) instanceof Py.Set s)) {
                        throw error(at, "ADDITEMS on a " + kind(peek(at)) + ", expected a set");
                    }
                    for (Py p : items) {
                        addToSet(at, s, p);
                    }
                }
                case 0x91 -> { // FROZENSET
                    Py.Set s = new Py.Set(true);
                    for (Py p : popToMark(at)) {
                        addToSet(at, s, p);
                    }
                    push(at, s);
                }
                case 'c' -> {
                    String module = line(at);
                    String name = line(at);
                    push(at, global(at, module, name));
                }
                case 0x93 -> { // STACK_GLOBAL
                    Py name = pop(at);
                    Py module = pop(at);
                    if (!(module instanceof Py.Str(String m)) || !(name instanceof Py.Str(String n))) {
                        throw error(at, "STACK_GLOBAL expects two strings, found " + kind(module) + " and "
                                + kind(name));
                    }
                    push(at, global(at, m, n));
                }
                case 'R' -> {
                    Py args = pop(at);
                    Py callable = pop(at);
                    push(at, call(at, callable, args));
                }
                case 0x81 -> { // NEWOBJ: cls.__new__(cls, *args)
                    Py args = pop(at);
                    Py cls = pop(at);
                    push(at, call(at, cls, args));
                }
                case 0x92 -> { // NEWOBJ_EX: kwargs are kept as a trailing dict argument
                    Py kwargs = pop(at);
                    Py args = pop(at);
                    Py cls = pop(at);
                    List<Py> all = new ArrayList<>(asTuple(at, args).items());
                    if (!(kwargs instanceof Py.Dict kd) || kd.size() > 0) {
                        all.add(kwargs);
                    }
                    push(at, call(at, cls, tuple(at, all)));
                }
                case 'o' -> { // OBJ: class then args after a mark
                    List<Py> items = popToMark(at);
                    if (items.isEmpty()) {
                        throw error(at, "OBJ without a class");
                    }
                    push(at, call(at, items.getFirst(), tuple(at, items.subList(1, items.size()))));
                }
                case 'i' -> { // INST
                    String module = line(at);
                    String name = line(at);
                    List<Py> items = popToMark(at);
                    push(at, call(at, global(at, module, name), tuple(at, items)));
                }
                case 'b' -> build(at, pop(at), peek(at));
                case 'p' -> putMemo(at, parseMemoIndex(at, line(at)), peek(at));
                case 'q' -> putMemo(at, u8(), peek(at));
                case 'r' -> putMemo(at, u32(), peek(at));
                case 0x94 -> putMemo(at, memoCount, peek(at));
                case 'g' -> push(at, getMemo(at, parseMemoIndex(at, line(at))));
                case 'h' -> push(at, getMemo(at, u8()));
                case 'j' -> push(at, getMemo(at, u32()));
                case 'P' -> push(at, reducer.persistentLoad(new Py.Str(line(at)), at));
                case 'Q' -> push(at, reducer.persistentLoad(pop(at), at));
                case 0x82, 0x83, 0x84 -> throw error(at, "extension registry opcodes (EXT) are not part of a checkpoint");
                default -> throw error(at, String.format("unknown pickle opcode 0x%02x", op));
            }
        }
    }

    // --- operand readers -------------------------------------------------------------------------

    private int u8() {
        if (pos >= data.byteSize()) {
            throw error(pos, "pickle ends inside an opcode (truncated?)");
        }
        return in.u8(pos++);
    }

    private long u32() {
        return in.le(take(pos, 4), 4);
    }

    private long i64() {
        return in.le(take(pos, 8), 8);
    }

    /** Reserves {@code n} operand bytes and returns where they start. */
    private long take(long at, long n) {
        need(at, n, "operand");
        long p = pos;
        pos += n;
        return p;
    }

    private void need(long at, long n, String what) {
        if (n < 0 || n > data.byteSize() - pos) {
            throw error(at, what + " of " + n + " bytes runs past the end of the pickle ("
                    + (data.byteSize() - pos) + " bytes left)");
        }
    }

    private int checkLength(long at, long n) {
        if (n < 0 || n > data.byteSize() - pos || n > Integer.MAX_VALUE - 16) {
            throw error(at, "length field " + n + " exceeds the " + (data.byteSize() - pos)
                    + " bytes left in the pickle");
        }
        return (int) n;
    }

    private byte[] bytes(long at, int n) {
        return in.bytes(take(at, n), n);
    }

    private String utf8(long at, int n) {
        return new String(bytes(at, n), StandardCharsets.UTF_8);
    }

    private String line(long at) {
        long start = pos;
        long limit = Math.min(data.byteSize(), start + 1_000_000);
        for (long p = start; p < limit; p++) {
            if (in.u8(p) == '\n') {
                byte[] b = data.asSlice(start, p - start).toArray(ValueLayout.JAVA_BYTE);
                pos = p + 1;
                return new String(b, StandardCharsets.ISO_8859_1);
            }
        }
        throw error(at, "text operand without a terminating newline");
    }

    private Py longFromBytes(long at, int n) {
        if (n <= 8) { // two's complement in a long, as CPython's decode_long reads it
            long v = n == 0 ? 0 : in.le(take(at, n), n);
            return new Py.Int(n == 0 || n == 8 ? v : (v << (64 - 8 * n)) >> (64 - 8 * n));
        }
        byte[] le = bytes(at, n);
        byte[] be = new byte[n];
        for (int i = 0; i < n; i++) {
            be[i] = le[n - 1 - i];
        }
        BigInteger v = new BigInteger(be);
        return v.bitLength() < 64 ? new Py.Int(v.longValue()) : new Py.BigInt(v);
    }

    /** An over-long LONG4: its bytes are skipped, only its size is kept. */
    private Py hugeInt(long at, int n) {
        long start = take(at, n);
        int top = (byte) in.u8(start + n - 1);
        int topBits = 32 - Integer.numberOfLeadingZeros(top < 0 ? ~top & 0xff : top);
        return new Py.HugeInt(8L * (n - 1) + topBits);
    }

    /** A decimal float as Python's {@code float(text)} writes and reads it (no hex, no Java suffixes). */
    private static final java.util.regex.Pattern DECIMAL = java.util.regex.Pattern.compile(
            "[+-]?(?:\\d(?:_?\\d)*(?:\\.(?:\\d(?:_?\\d)*)?)?|\\.\\d(?:_?\\d)*)(?:[eE][+-]?\\d(?:_?\\d)*)?");

    /**
     * FLOAT's text as {@code float()} reads it: protocol 0 writes {@code repr(x)}, so infinities and NaN come as
     * {@code inf}, {@code -inf} and {@code nan}, which Java's parser refuses, while it takes forms Python refuses
     * ({@code 0x1p3}, {@code 1.5d}).
     */
    static double pythonFloat(String text) {
        String s = text.strip();
        String lower = s.toLowerCase(java.util.Locale.ROOT);
        boolean negative = lower.startsWith("-");
        String body = negative || lower.startsWith("+") ? lower.substring(1) : lower;
        if (body.equals("inf") || body.equals("infinity")) {
            return negative ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        if (body.equals("nan")) {
            return Double.NaN;
        }
        if (!DECIMAL.matcher(s).matches()) {
            throw new NumberFormatException(text);
        }
        return Double.parseDouble(s.replace("_", ""));
    }

    /** INT and LONG text, as {@code int(text, 0)} reads it, with CPython's limit on decimal digits. */
    private Py parseIntLine(long at, String s) {
        if (s.equals("01")) {
            return new Py.Bool(true);
        }
        if (s.equals("00")) {
            return new Py.Bool(false);
        }
        String t = s.strip().replace("_", "");
        boolean negative = t.startsWith("-");
        String digits = t.startsWith("-") || t.startsWith("+") ? t.substring(1) : t;
        int radix = 10;
        if (digits.length() > 2 && digits.charAt(0) == '0' && "xXoObB".indexOf(digits.charAt(1)) >= 0) {
            radix = switch (Character.toLowerCase(digits.charAt(1))) {
                case 'x' -> 16;
                case 'o' -> 8;
                default -> 2;
            };
            digits = digits.substring(2);
        }
        if (digits.length() > MAX_INT_DIGITS) { // BigInteger's parse is quadratic: refuse before it
            throw error(at, "integer of " + digits.length() + " digits exceeds the limit of " + MAX_INT_DIGITS
                    + " digits (CPython's int() refuses it too)");
        }
        try {
            BigInteger v = new BigInteger(digits, radix);
            v = negative ? v.negate() : v;
            return v.bitLength() < 64 ? new Py.Int(v.longValue()) : new Py.BigInt(v);
        } catch (NumberFormatException e) {
            throw error(at, "integer operand '" + shorten(s) + "' is not a number");
        }
    }

    private static String shorten(String s) {
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }

    private int parseMemoIndex(long at, String s) {
        try {
            return Integer.parseInt(s.strip());
        } catch (NumberFormatException e) {
            throw error(at, "memo index '" + s + "' is not a number");
        }
    }

    /**
     * UNICODE's operand as Python's raw-unicode-escape codec decodes it: a backslash-u escape (4 hex digits) or
     * backslash-U escape (8; protocol 0 writes characters beyond Latin-1 so) counts only after an odd number of
     * backslashes; a short or out-of-range escape fails the load, as it does in Python.
     */
    private String rawUnicodeEscape(long at, String s) {
        StringBuilder sb = new StringBuilder(s.length());
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c != '\\') {
                sb.append(c);
                i++;
                continue;
            }
            int start = i;
            while (i < s.length() && s.charAt(i) == '\\') {
                sb.append('\\');
                i++;
            }
            if (((i - start) & 1) == 0 || i >= s.length() || (s.charAt(i) != 'u' && s.charAt(i) != 'U')) {
                continue;
            }
            sb.setLength(sb.length() - 1);
            int n = s.charAt(i) == 'u' ? 4 : 8;
            i++;
            if (i + n > s.length() || !isHex(s, i, n)) {
                throw error(at, "UNICODE operand has an escape of fewer than " + n + " hex digits");
            }
            long cp = Long.parseLong(s, i, i + n, 16);
            if (cp > Character.MAX_CODE_POINT) {
                throw error(at, "UNICODE operand escapes code point " + Long.toHexString(cp) + ", beyond U+10FFFF");
            }
            sb.appendCodePoint((int) cp);
            i += n;
        }
        return sb.toString();
    }

    private static boolean isHex(String s, int from, int n) {
        for (int i = from; i < from + n; i++) {
            if (Character.digit(s.charAt(i), 16) < 0) {
                return false;
            }
        }
        return true;
    }

    private byte[] pythonStringLiteral(long at, String s) {
        if (s.length() < 2 || s.charAt(0) != s.charAt(s.length() - 1) || (s.charAt(0) != '\'' && s.charAt(0) != '"')) {
            throw error(at, "STRING operand is not a quoted literal");
        }
        String body = s.substring(1, s.length() - 1);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c != '\\' || i + 1 >= body.length()) {
                out.write(c);
                continue;
            }
            char e = body.charAt(++i);
            switch (e) {
                case 'n' -> out.write('\n');
                case 't' -> out.write('\t');
                case 'r' -> out.write('\r');
                case 'x' -> {
                    if (i + 3 > body.length()) {
                        throw error(at, "bad \\x escape in STRING");
                    }
                    try {
                        out.write(Integer.parseInt(body.substring(i + 1, i + 3), 16));
                    } catch (NumberFormatException notHex) {
                        throw error(at, "bad \\x escape in STRING");
                    }
                    i += 2;
                }
                default -> out.write(e);
            }
        }
        return out.toByteArray();
    }

    // --- stack, marks, memo ----------------------------------------------------------------------

    private void push(long at, Py v) {
        if (stack.size() >= limits.maxStack()) {
            throw error(at, "pickle stack exceeds " + limits.maxStack() + " values");
        }
        stack.add(v);
    }

    private Py pop(long at) {
        int floor = markCount > 0 ? marks[markCount - 1] : 0;
        if (stack.size() <= floor) {
            throw error(at, "pickle stack underflow");
        }
        return stack.removeLast();
    }

    private Py peek(long at) {
        int floor = markCount > 0 ? marks[markCount - 1] : 0;
        if (stack.size() <= floor) {
            throw error(at, "pickle stack underflow");
        }
        return stack.getLast();
    }

    private void mark(long at) {
        if (markCount >= limits.maxMarks()) {
            throw error(at, "more than " + limits.maxMarks() + " nested MARKs");
        }
        if (markCount == marks.length) {
            marks = Arrays.copyOf(marks, marks.length * 2);
        }
        marks[markCount++] = stack.size();
    }

    private List<Py> popToMark(long at) {
        if (markCount == 0) {
            throw error(at, "opcode needs a MARK, but none is set");
        }
        int m = marks[--markCount];
        List<Py> items = new ArrayList<>(stack.subList(m, stack.size()));
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private void popMark(long at) {
        popToMark(at);
    }

    private List<Py> popN(long at, int n) {
        Py[] items = new Py[n];
        for (int i = n - 1; i >= 0; i--) {
            items[i] = pop(at);
        }
        return Arrays.asList(items);
    }

    private void putMemo(long at, long index, Py v) {
        if (index < 0 || index >= limits.maxMemo()) {
            throw error(at, "memo index " + index + " exceeds the limit of " + limits.maxMemo());
        }
        int i = (int) index;
        if (i >= memo.length) {
            memo = Arrays.copyOf(memo, Math.max(i + 1, Math.min(limits.maxMemo(), memo.length * 2)));
        }
        memo[i] = v;
        memoCount = Math.max(memoCount, i + 1);
    }

    private Py getMemo(long at, long index) {
        if (index < 0 || index >= memoCount || memo[(int) index] == null) {
            throw error(at, "memo index " + index + " was never stored");
        }
        return memo[(int) index];
    }

    // --- building values -------------------------------------------------------------------------

    private Py.Tuple tuple(long at, List<Py> items) {
        Py.Tuple t = Py.Tuple.of(items);
        nesting(at, t.depth());
        return t;
    }

    private Py.Tuple asTuple(long at, Py v) {
        if (v instanceof Py.Tuple t) {
            return t;
        }
        throw error(at, "expected an argument tuple, found " + kind(v));
    }

    private void nesting(long at, int depth) {
        if (depth > limits.maxNesting()) {
            throw error(at, "values nest deeper than " + limits.maxNesting() + " levels");
        }
    }

    private void grow(long at, long size) {
        if (size > limits.maxContainerItems()) {
            throw error(at, "a container holds more than " + limits.maxContainerItems() + " items");
        }
    }

    private void append(long at, Py.PyList l, Py v) {
        grow(at, l.items.size() + 1L);
        l.items.add(v);
        l.depth = Math.max(l.depth, v.depth() + 1);
        nesting(at, l.depth);
    }

    private void appendTo(long at, Py target, List<Py> items) {
        switch (target) {
            case Py.PyList l -> {
                for (Py p : items) {
                    append(at, l, p);
                }
            }
            case Py.Instance inst -> { // list subclasses (e.g. torch.Size built oddly): keep as state
                Py.PyList l = inst.state instanceof Py.PyList existing ? existing : new Py.PyList();
                for (Py p : items) {
                    append(at, l, p);
                }
                inst.state = l;
            }
            default -> throw error(at, "APPEND on a " + kind(target) + ", expected a list");
        }
    }

    private void addToSet(long at, Py.Set s, Py v) {
        grow(at, s.items.size() + 1L);
        s.items.add(v);
        s.depth = Math.max(s.depth, v.depth() + 1);
        nesting(at, s.depth);
    }

    private void setItems(long at, Py.Dict d, List<Py> kv) {
        if (kv.size() % 2 != 0) {
            throw error(at, "SETITEMS with an odd number of values");
        }
        grow(at, d.size() + kv.size() / 2L);
        for (int i = 0; i < kv.size(); i += 2) {
            d.put(kv.get(i), kv.get(i + 1));
            d.depth = Math.max(d.depth, Math.max(kv.get(i).depth(), kv.get(i + 1).depth()) + 1);
        }
        nesting(at, d.depth);
    }

    private Py.Global global(long at, String module, String name) {
        if (module.isEmpty() || name.isEmpty()) { // Python's import and getattr refuse these too
            throw error(at, "global with an empty " + (module.isEmpty() ? "module" : "name") + " ('" + module
                    + "', '" + name + "')");
        }
        String refusal = GlobalPolicy.refusal(module, name);
        if (refusal != null) {
            throw error(at, "refusing pickle: it " + refusal);
        }
        return new Py.Global(module, name);
    }

    /** A REDUCE/NEWOBJ: never executed; known container constructors become containers. */
    private Py call(long at, Py callable, Py argsValue) {
        Py.Tuple args = asTuple(at, argsValue);
        if (!(callable instanceof Py.Global g)) {
            throw error(at, "call of a " + kind(callable) + ", expected a global");
        }
        Py domain = reducer.reduce(g, args, at);
        if (domain != null) {
            nesting(at, domain.depth());
            return domain;
        }
        if (g.is("collections", "OrderedDict") || g.is("builtins", "dict") || g.is("__builtin__", "dict")) {
            Py.Dict d = new Py.Dict();
            if (args.size() == 1 && args.get(0) instanceof Py.PyList l) { // OrderedDict([(k, v), ...])
                for (Py item : l.items) {
                    if (item instanceof Py.Tuple t && t.size() == 2) {
                        setItems(at, d, t.items());
                    }
                }
            }
            return d;
        }
        if (g.is("_codecs", "encode") && args.size() >= 1 && args.get(0) instanceof Py.Str(String s)) {
            return new Py.Bytes(s.getBytes(StandardCharsets.ISO_8859_1)); // how protocol 2 stores bytes
        }
        if ((g.is("__builtin__", "bytes") || g.is("builtins", "bytes") || g.is("builtins", "bytearray")
                || g.is("__builtin__", "bytearray")) && args.size() <= 1) {
            return args.size() == 0 ? new Py.Bytes(new byte[0])
                    : args.get(0) instanceof Py.Bytes b ? b : new Py.Instance(g, args);
        }
        if ((g.is("builtins", "set") || g.is("__builtin__", "set") || g.is("builtins", "frozenset"))
                && args.size() <= 1) {
            Py.Set s = new Py.Set(g.name().equals("frozenset"));
            if (args.size() == 1 && args.get(0) instanceof Py.PyList l) {
                for (Py p : l.items) {
                    addToSet(at, s, p);
                }
            }
            return s;
        }
        Py.Instance inst = new Py.Instance(g, args);
        nesting(at, inst.depth());
        return inst;
    }

    private void build(long at, Py state, Py target) {
        switch (target) {
            case Py.Instance inst -> {
                inst.state = state;
                inst.depth = Math.max(inst.depth, state.depth() + 1);
                nesting(at, inst.depth);
            }
            case Py.Dict d -> d.state = state; // OrderedDict's instance attributes (torch: _metadata)
            case Py.Domain ignored -> {
                // torch objects (e.g. a Parameter) whose Python attributes do not matter here
            }
            default -> throw error(at, "BUILD on a " + kind(target) + ", expected an object");
        }
    }

    static String kind(Py v) {
        return switch (v) {
            case Py.None n -> "None";
            case Py.Bool b -> "bool";
            case Py.Int i -> "int";
            case Py.BigInt i -> "int";
            case Py.HugeInt i -> "int";
            case Py.Float f -> "float";
            case Py.Str s -> "str";
            case Py.Bytes b -> "bytes";
            case Py.Global g -> "global " + g.qualified();
            case Py.PersistentId p -> "persistent id";
            case Py.Tuple t -> "tuple";
            case Py.Domain d -> d.value().getClass().getSimpleName();
            case Py.PyList l -> "list";
            case Py.Set s -> "set";
            case Py.Dict d -> "dict";
            case Py.Instance i -> i.type.qualified() + " object";
        };
    }
}
