package dev.ckptdiff.optim;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;
import dev.ckptdiff.tensor.DType;
import dev.ckptdiff.tensor.Tensor;
import dev.ckptdiff.torch.TorchFile;
import dev.ckptdiff.torch.TorchTensor;

/**
 * A legacy {@code distrib_optim.pt} ({@code DistributedOptimizer.save_parameter_state}): per sub-optimizer (a
 * chained optimizer writes a list: dense, then expert), its buffers' fp32 state as mapped views. A sub-optimizer
 * is absent (null) where this rank was not DP rank 0 of it. Closing it unmaps the views.
 */
public final class OptimizerFile implements AutoCloseable {
    public static final String NAME = "distrib_optim.pt";

    private final TorchFile file;
    private final boolean chained;
    private final List<List<BufferState>> optimizers;

    private OptimizerFile(TorchFile file, boolean chained, List<List<BufferState>> optimizers) {
        this.file = file;
        this.chained = chained;
        this.optimizers = optimizers;
    }

    public static OptimizerFile open(Path path) {
        TorchFile tf = TorchFile.open(path);
        try {
            Py root = tf.root();
            List<List<BufferState>> subs = new ArrayList<>();
            boolean chained = root instanceof Py.PyList;
            if (root instanceof Py.PyList list) {
                for (int i = 0; i < list.items.size(); i++) {
                    Py item = list.items.get(i);
                    subs.add(item instanceof Py.None ? null : sub(tf, item, "[" + i + "]"));
                }
            } else {
                subs.add(sub(tf, root, "top level"));
            }
            return new OptimizerFile(tf, chained, subs);
        } catch (RuntimeException e) {
            tf.close();
            throw e;
        }
    }

    private static List<BufferState> sub(TorchFile tf, Py v, String where) {
        if (!(v instanceof Py.Dict d)) {
            throw BadInputException.in(tf.path(), where + " is not a dict: not a distributed-optimizer state"
                    + " (expected {'buckets_coalesced': True, 0: {(param_dtype, grad_dtype): {...}}})");
        }
        boolean coalesced = d.get("buckets_coalesced") != null
                && PyValues.asBool(d.get("buckets_coalesced")).orElse(false);
        Py perBucketUnpadded = d.get("per_bucket_numel_unpadded");
        if (!coalesced && perBucketUnpadded == null) {
            throw BadInputException.in(tf.path(), where + " has neither 'buckets_coalesced' nor 'per_bucket_numel_unpadded':"
                    + " not a distrib_optim.pt this reader knows");
        }
        List<BufferState> out = new ArrayList<>();
        for (int i = 0; i < d.size(); i++) {
            if (!(d.keys.get(i) instanceof Py.Int(long gbuf))) {
                continue; // 'buckets_coalesced', 'per_bucket_numel', ...
            }
            if (!(d.values.get(i) instanceof Py.Dict byDtype)) {
                throw BadInputException.in(tf.path(), where + "[" + gbuf + "] is not a dict keyed by (param_dtype, grad_dtype)");
            }
            for (int j = 0; j < byDtype.size(); j++) {
                String at = where + "[" + gbuf + "][" + j + "]";
                String[] dtypes = dtypePair(tf, byDtype.keys.get(j), at);
                List<Long> buckets = coalesced ? List.of()
                        : bucketSizes(tf, perBucketUnpadded, (int) gbuf, byDtype.keys.get(j), at);
                out.add(state(tf, (int) gbuf, dtypes, coalesced, buckets, byDtype.values.get(j), at));
            }
        }
        return out;
    }

    private static String[] dtypePair(TorchFile tf, Py key, String at) {
        if (key instanceof Py.Tuple t && t.size() == 2 && t.get(0) instanceof Py.Global a
                && t.get(1) instanceof Py.Global b && a.module().equals("torch") && b.module().equals("torch")) {
            return new String[]{a.name(), b.name()};
        }
        throw BadInputException.in(tf.path(), at + ": key " + key + " is not a (param_dtype, grad_dtype) pair of torch dtypes");
    }

    /** The older form's {@code per_bucket_numel_unpadded}: a list over buffers of {dtype pair: [numel per bucket]}. */
    private static List<Long> bucketSizes(TorchFile tf, Py perBucket, int gbuf, Py dtypeKey, String at) {
        if (perBucket instanceof Py.PyList l && gbuf < l.items.size() && l.items.get(gbuf) instanceof Py.Dict d) {
            for (int i = 0; i < d.size(); i++) {
                if (d.keys.get(i).equals(dtypeKey) || String.valueOf(d.keys.get(i)).equals(String.valueOf(dtypeKey))) {
                    if (d.values.get(i) instanceof Py.PyList sizes) {
                        List<Long> out = new ArrayList<>();
                        for (Py s : sizes.items) {
                            out.add(PyValues.asLong(s).orElseThrow(() -> BadInputException.in(tf.path(),
                                    at + ": per_bucket_numel_unpadded holds a non-integer")));
                        }
                        return out;
                    }
                }
            }
        }
        throw BadInputException.in(tf.path(), at + ": per_bucket_numel_unpadded has no entry for this buffer");
    }

    private static BufferState state(TorchFile tf, int gbuf, String[] dtypes, boolean coalesced, List<Long> buckets,
                                     Py v, String at) {
        if (!(v instanceof Py.Dict d)) {
            throw BadInputException.in(tf.path(), at + " is not a dict of state tensors");
        }
        Map<String, List<Tensor>> tensors = new LinkedHashMap<>();
        long unpadded = buckets.stream().mapToLong(Long::longValue).sum();
        for (int i = 0; i < d.size(); i++) {
            if (!(d.keys.get(i) instanceof Py.Str(String key))) {
                continue;
            }
            Py value = d.values.get(i);
            if (key.equals("numel_unpadded")) {
                unpadded = PyValues.asLong(value).orElseThrow(() -> BadInputException.in(tf.path(),
                        at + "['numel_unpadded'] is not an integer"));
                continue;
            }
            List<Py> items = value instanceof Py.PyList l ? l.items : List.of(value);
            List<Tensor> ts = new ArrayList<>();
            for (Py item : items) {
                ts.add(tensor(tf, item, at + "['" + key + "']"));
            }
            tensors.put(key, List.copyOf(ts));
        }
        if (!tensors.containsKey(BufferState.MASTERS)) {
            throw BadInputException.in(tf.path(), at + " has no 'param' (fp32 master) tensor");
        }
        if (coalesced && unpadded < 0) {
            throw BadInputException.in(tf.path(), at + " has no 'numel_unpadded'");
        }
        BufferState s = new BufferState(gbuf, dtypes[0], dtypes[1], coalesced, unpadded, buckets, tensors);
        for (Map.Entry<String, List<Tensor>> e : tensors.entrySet()) {
            long n = e.getValue().stream().mapToLong(Tensor::numel).sum();
            if (coalesced && n != unpadded) {
                throw BadInputException.in(tf.path(), at + "['" + e.getKey() + "'] holds " + n
                        + " elements but numel_unpadded is " + unpadded);
            }
            if (!coalesced && e.getValue().size() != buckets.size()) {
                throw BadInputException.in(tf.path(), at + "['" + e.getKey() + "'] holds " + e.getValue().size()
                        + " bucket tensors but per_bucket_numel_unpadded lists " + buckets.size());
            }
            for (int k = 0; !coalesced && k < buckets.size(); k++) {
                if (e.getValue().get(k).numel() < buckets.get(k)) {
                    throw BadInputException.in(tf.path(), at + "['" + e.getKey() + "'][" + k + "] holds "
                            + e.getValue().get(k).numel() + " elements, fewer than its bucket's " + buckets.get(k));
                }
            }
        }
        return s;
    }

    private static Tensor tensor(TorchFile tf, Py v, String at) {
        if (!(v instanceof Py.Domain dom) || !(dom.value() instanceof TorchTensor t)) {
            throw BadInputException.in(tf.path(), at + " is not a tensor");
        }
        Tensor tensor = t.named(at, tf.path().getFileName().toString());
        if (tensor.dtype() != DType.F32 || tensor.rank() != 1 || !tensor.isContiguous()) {
            throw BadInputException.in(tf.path(), at + " is a " + tensor.dtype() + " tensor of shape "
                    + tensor.shapeString() + ", expected a flat contiguous float32 tensor");
        }
        return tensor;
    }

    public Path path() {
        return file.path();
    }

    public long fileSize() {
        return file.fileSize();
    }

    /** True when the file is a list (Megatron's ChainedOptimizer with several sub-optimizers). */
    public boolean chained() {
        return chained;
    }

    /** Per sub-optimizer, its buffers in gbuf order; null where this rank did not write that optimizer. */
    public List<List<BufferState>> optimizers() {
        return optimizers;
    }

    @Override
    public void close() {
        file.close();
    }
}
