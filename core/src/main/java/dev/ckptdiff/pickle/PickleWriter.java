package dev.ckptdiff.pickle;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import dev.ckptdiff.tensor.Tensor;

/**
 * Writes a protocol-2 pickle of plain values, in the shapes torch.save produces. Only what torch's
 * {@code weights_only} unpickler accepts is emitted (plus {@code argparse.Namespace}, which a loader
 * allows with {@code torch.serialization.safe_globals}): dicts, OrderedDicts, lists, tuples, strings,
 * numbers, booleans, None, torch dtypes and tensors as {@code _rebuild_tensor_v2} of a storage.
 */
public final class PickleWriter {
    /** A tuple (a Java List is written as a Python list). */
    public record Tuple(List<Object> items) {
    }

    /** An OrderedDict, as a state dict is. */
    public record Ordered(Map<String, ?> map) {
    }

    /** A {@code module.name} reference such as {@code torch.bfloat16}. */
    public record Global(String module, String name) {
    }

    /** An {@code argparse.Namespace} with these attributes. */
    public record Namespace(Map<String, ?> attributes) {
    }

    /** A contiguous tensor that is all of storage {@code key}: typed storage class, shape. */
    public record StorageTensor(String key, String storageClass, long numel, long[] shape) {
    }

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public static byte[] dump(Object value) {
        PickleWriter w = new PickleWriter();
        w.op(0x80);
        w.op(2);
        w.value(value);
        w.op('.');
        return w.out.toByteArray();
    }

    private void op(int b) {
        out.write(b);
    }

    private void global(String module, String name) {
        op('c');
        out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
    }

    private void value(Object v) {
        switch (v) {
            case null -> op('N');
            case Boolean b -> op(b ? 0x88 : 0x89);
            case Integer i -> integer(i);
            case Long l -> integer(l);
            case Double d -> floating(d);
            case Float f -> floating(f);
            case String s -> string(s);
            case Tuple t -> tuple(t.items());
            case Global g -> global(g.module(), g.name());
            case StorageTensor t -> tensor(t);
            case Ordered o -> {
                global("collections", "OrderedDict");
                op(')');
                op('R');
                items(o.map());
            }
            case Namespace n -> {
                global("argparse", "Namespace");
                op(')');
                op(0x81); // NEWOBJ
                op('}');
                items(n.attributes());
                op('b'); // BUILD
            }
            case Map<?, ?> m -> {
                op('}');
                items(m);
            }
            case List<?> l -> {
                op(']');
                for (int i = 0; i < l.size(); i += 1000) {
                    op('(');
                    for (Object x : l.subList(i, Math.min(l.size(), i + 1000))) {
                        value(x);
                    }
                    op('e');
                }
            }
            default -> throw new IllegalArgumentException("cannot pickle a " + v.getClass().getSimpleName());
        }
    }

    private void items(Map<?, ?> m) {
        int n = 0;
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (n % 1000 == 0) {
                if (n > 0) {
                    op('u');
                }
                op('(');
            }
            value(e.getKey());
            value(e.getValue());
            n++;
        }
        if (n > 0) {
            op('u');
        }
    }

    private void tuple(List<?> items) {
        switch (items.size()) {
            case 0 -> op(')');
            case 1, 2, 3 -> {
                items.forEach(this::value);
                op(0x84 + items.size());
            }
            default -> {
                op('(');
                items.forEach(this::value);
                op('t');
            }
        }
    }

    private void tensor(StorageTensor t) {
        global("torch._utils", "_rebuild_tensor_v2");
        op('(');
        op('(');
        string("storage");
        global("torch", t.storageClass());
        string(t.key());
        string("cpu");
        integer(t.numel());
        op('t');
        op('Q'); // BINPERSID
        integer(0);
        long[] stride = Tensor.rowMajorStrides(t.shape());
        tuple(java.util.Arrays.stream(t.shape()).boxed().toList());
        tuple(java.util.Arrays.stream(stride).boxed().toList());
        op(0x89);
        global("collections", "OrderedDict");
        op(')');
        op('R');
        op('t');
        op('R');
    }

    private void integer(long v) {
        if (v >= 0 && v < 256) {
            op('K');
            op((int) v);
        } else if (v >= 0 && v < 65536) {
            op('M');
            op((int) (v & 0xff));
            op((int) (v >>> 8));
        } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            op('J');
            for (int i = 0; i < 4; i++) {
                op((int) (v >>> (8 * i)) & 0xff);
            }
        } else {
            byte[] be = java.math.BigInteger.valueOf(v).toByteArray();
            op(0x8a); // LONG1, little-endian two's complement
            op(be.length);
            for (int i = be.length - 1; i >= 0; i--) {
                op(be[i] & 0xff);
            }
        }
    }

    private void floating(double d) {
        op('G');
        long bits = Double.doubleToRawLongBits(d);
        for (int i = 7; i >= 0; i--) {
            op((int) (bits >>> (8 * i)) & 0xff);
        }
    }

    private void string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X');
        for (int i = 0; i < 4; i++) {
            op((b.length >>> (8 * i)) & 0xff);
        }
        out.writeBytes(b);
    }
}
