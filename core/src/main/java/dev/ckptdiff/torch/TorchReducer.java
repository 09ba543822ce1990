package dev.ckptdiff.torch;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;
import dev.ckptdiff.pickle.Reducer;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Shapes;

/**
 * Reads the handful of torch rebuild functions a checkpoint pickle calls, the way torch's
 * weights-only loader does, without running any of them: storages become mapped archive entries and
 * tensors become checked views of them. Every other call stays an inert object.
 */
final class TorchReducer implements Reducer {
    private final String source;
    private final String archive;
    private final Entries entries;
    private final Map<String, TorchStorage> storages = new HashMap<>();

    /** The archive's {@code data/<key>} entries: their sizes now, their bytes when a tensor is read. */
    interface Entries {
        /** The entry's size in bytes, or -1 when there is none. */
        long size(String key);

        MemorySegment bytes(String key);
    }

    TorchReducer(String archive, String source, Entries entries) {
        this.archive = archive;
        this.source = source;
        this.entries = entries;
    }

    private BadInputException error(long at, String problem) {
        return new BadInputException(source + ": at offset " + at + ": " + problem);
    }

    @Override
    public Py persistentLoad(Py id, long at) {
        if (!(id instanceof Py.Tuple t) || t.size() != 5 || !(t.get(0) instanceof Py.Str(String tag))
                || !tag.equals("storage")) {
            throw error(at, "persistent id is not ('storage', type, key, location, numel)");
        }
        if (!(t.get(1) instanceof Py.Global type) || !(t.get(2) instanceof Py.Str(String key))
                || !(t.get(4) instanceof Py.Int(long numel)) || numel < 0) {
            throw error(at, "malformed storage persistent id " + PyValues.brief(t));
        }
        String location = t.get(3) instanceof Py.Str(String l) ? l : "?";
        TorchStorage cached = storages.get(key);
        if (cached != null) {
            return new Py.Domain(cached);
        }
        boolean untyped = type.is("torch.storage", "UntypedStorage") || type.is("torch", "UntypedStorage");
        DType dtype = untyped ? DType.U8 : (type.module().equals("torch")
                ? DType.fromTorchStorage(type.name()).orElse(null) : null);
        if (dtype == null) {
            throw error(at, "storage type " + type.qualified() + " is not a torch storage type this reader knows");
        }
        long size = entries.size(key);
        if (size < 0) {
            throw error(at, "storage '" + key + "' has no data/" + key + " entry in the archive");
        }
        long need = Shapes.checkedBytes(new long[]{numel}, dtype.size());
        if (need < 0 || need > size) {
            throw error(at, "storage '" + key + "' claims " + numel + " " + dtype + " elements but its entry holds "
                    + size + " bytes");
        }
        TorchStorage s = new TorchStorage(archive, key, dtype, untyped, location, numel, need, () -> entries.bytes(key));
        storages.put(key, s);
        return new Py.Domain(s);
    }

    @Override
    public Py reduce(Py.Global f, Py.Tuple args, long at) {
        if (f.module().equals("torch._utils")) {
            switch (f.name()) {
                case "_rebuild_tensor_v2", "_rebuild_tensor" -> {
                    return tensor(args, at, null);
                }
                case "_rebuild_tensor_v3" -> {
                    if (args.size() < 7) {
                        throw error(at, "_rebuild_tensor_v3 with " + args.size() + " arguments, expected 7 or 8");
                    }
                    return tensor(args, at, dtypeOf(args.get(6), at));
                }
                case "_rebuild_parameter", "_rebuild_parameter_with_state" -> {
                    if (args.size() < 1 || !(args.get(0) instanceof Py.Domain d) || !(d.value() instanceof TorchTensor)) {
                        throw error(at, f.name() + " of something that is not a tensor");
                    }
                    return args.get(0);
                }
                default -> {
                    return null;
                }
            }
        }
        if (f.is("torch._tensor", "_rebuild_from_type_v2") && args.size() >= 3
                && args.get(0) instanceof Py.Global inner && args.get(2) instanceof Py.Tuple innerArgs) {
            return reduce(inner, innerArgs, at);
        }
        if (f.is("torch", "Size") && args.size() == 1 && args.get(0) instanceof Py.Tuple dims) {
            return dims;
        }
        return null;
    }

    private DType dtypeOf(Py v, long at) {
        if (v instanceof Py.Global g && g.module().equals("torch")) {
            return DType.fromTorchName(g.name()).orElseThrow(() -> error(at, "tensor dtype torch." + g.name()
                    + " is not one this reader knows"));
        }
        throw error(at, "tensor dtype is " + PyValues.brief(v) + ", expected a torch dtype");
    }

    private Py tensor(Py.Tuple a, long at, DType explicit) {
        if (a.size() < 4 || !(a.get(0) instanceof Py.Domain d) || !(d.value() instanceof TorchStorage storage)) {
            throw error(at, "tensor rebuild without a storage as its first argument");
        }
        long offset = a.get(1) instanceof Py.Int(long o) ? o : -1;
        long[] shape = longs(a.get(2), at, "size");
        long[] stride = longs(a.get(3), at, "stride");
        if (offset < 0 || shape.length != stride.length) {
            throw error(at, "tensor with offset " + offset + ", size " + Shapes.toString(shape) + " and stride "
                    + Shapes.toString(stride) + " is malformed");
        }
        DType dtype = explicit != null ? explicit : storage.dtype();
        long elements = storage.untyped() || explicit != null
                ? storage.byteSize() / dtype.size() : storage.numel();
        if (!storage.untyped() && explicit != null && explicit != storage.dtype()) {
            throw error(at, "tensor dtype " + explicit + " differs from its storage's " + storage.dtype());
        }
        if (Shapes.checkedBytes(shape, dtype.size()) < 0) { // counts in bytes must fit everywhere downstream
            throw error(at, "tensor size " + Shapes.toString(shape) + " of " + dtype
                    + " overflows a 64-bit byte count");
        }
        long numel = Shapes.checkedNumel(shape);
        if (numel > 0) {
            long last = offset;
            for (int i = 0; i < shape.length; i++) {
                if (stride[i] < 0) {
                    throw error(at, "negative stride " + Shapes.toString(stride));
                }
                try {
                    last = Math.addExact(last, Math.multiplyExact(shape[i] - 1, stride[i]));
                } catch (ArithmeticException e) {
                    throw error(at, "tensor extent overflows: size " + Shapes.toString(shape) + " stride "
                            + Shapes.toString(stride));
                }
            }
            if (last >= elements) {
                throw error(at, "tensor of size " + Shapes.toString(shape) + ", stride " + Shapes.toString(stride)
                        + " at offset " + offset + " reaches element " + last + " of storage '" + storage.key()
                        + "', which holds " + elements);
            }
        }
        return new Py.Domain(new TorchTensor(storage, dtype, offset, shape, stride));
    }

    private long[] longs(Py v, long at, String what) {
        if (!(v instanceof Py.Tuple t)) {
            throw error(at, "tensor " + what + " is not a tuple");
        }
        long[] out = new long[t.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.get(i) instanceof Py.Int(long x)) || x < 0) {
                throw error(at, "tensor " + what + " holds " + PyValues.brief(t.get(i)) + ", expected a non-negative integer");
            }
            out[i] = x;
        }
        return out;
    }
}
