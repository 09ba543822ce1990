package dev.ckptdiff.nativebridge;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import dev.ckptdiff.diff.ComputeEngine;
import dev.ckptdiff.diff.Run;
import dev.ckptdiff.diff.ScalarEngine;
import dev.ckptdiff.diff.Stats;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.tensor.DType;

/**
 * The comparison done by libtorch through DJL, on CPU or GPU. libtorch aborts the whole JVM when
 * DJL hands it a bfloat16 array, so bf16 never reaches it as such: it is widened to float32 here,
 * exactly (a bf16 value is the top half of a float32), into a direct buffer that DJL wraps. fp16 and
 * fp32 are wrapped as they lie in the mapping. Types libtorch is not given go to the scalar engine.
 */
public final class TorchEngine implements ComputeEngine {
    private static final int CHUNK = 1 << 20;
    private final Engine engine;
    private final Device device;

    public TorchEngine(String device) {
        try {
            this.engine = Engine.getEngine("PyTorch");
        } catch (Throwable t) { // UnsatisfiedLinkError, EngineException, ...: one clear line instead
            throw new BadInputException("--engine torch: libtorch could not be loaded (" + t.getClass().getSimpleName()
                    + ": " + firstLine(t.getMessage()) + "); the vector engine needs no native code");
        }
        if (device.equals("gpu")) {
            if (engine.getGpuCount() == 0) {
                throw new BadInputException("--device gpu: libtorch sees no GPU on this machine; use --device cpu");
            }
            this.device = Device.gpu();
        } else {
            this.device = Device.cpu();
        }
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    @Override
    public String name() {
        return "torch(" + device + ")";
    }

    @Override
    public void compare(Run r, Tolerance tol, Stats s, boolean screen) {
        if (!given(r.dtA()) || !given(r.dtB())) {
            ScalarEngine.INSTANCE.compare(r, tol, s, false);
            return;
        }
        for (long row = 0; row < r.rows(); row++) {
            Run one = r.rows() == 1 ? r : r.row(row);
            for (long from = 0; from < one.count(); from += CHUNK) {
                chunk(one, from, Math.min(one.count(), from + CHUNK), tol, s);
            }
        }
    }

    private static boolean given(DType t) {
        return t == DType.BF16 || t == DType.F16 || t == DType.F32;
    }

    private void chunk(Run r, long from, long to, Tolerance tol, Stats s) {
        int n = (int) (to - from);
        try (NDManager m = NDManager.newBaseManager(device, engine.getEngineName());
             Arena scratch = Arena.ofConfined()) {
            NDArray a = load(m, scratch, r.a(), r.offA() + from * r.dtA().size(), r.dtA(), n);
            NDArray b = load(m, scratch, r.b(), r.offB() + from * r.dtB().size(), r.dtB(), n);
            NDArray nanA = a.isNaN();
            NDArray nanB = b.isNaN();
            NDArray infA = a.isInfinite();
            NDArray infB = b.isInfinite();
            NDArray finite = nanA.logicalOr(infA).logicalOr(nanB).logicalOr(infB).logicalNot();
            // Equal as float32 bits: equal values, except +0/-0 (told apart by 1/x), and NaN with NaN.
            NDArray sameValue = a.eq(b).logicalAnd(a.eq(0).logicalAnd(a.pow(-1).neq(b.pow(-1))).logicalNot());
            NDArray same = sameValue.logicalOr(nanA.logicalAnd(nanB));
            NDArray d = a.sub(b).abs();
            NDArray zero = m.zeros(new Shape(n), DataType.FLOAT32);
            NDArray dFinite = NDArrays.where(finite, d, zero);
            NDArray aF = NDArrays.where(finite, a, zero);
            NDArray bF = NDArrays.where(finite, b, zero);
            NDArray limit = aF.abs().maximum(bF.abs()).mul((float) tol.rtol()).add((float) tol.atol());
            long over = dFinite.gt(limit).logicalAnd(finite).toType(DataType.INT64, false).sum().getLong();
            NDArray notSame = same.logicalNot();
            long differing = notSame.toType(DataType.INT64, false).sum().getLong();
            long nonFiniteMismatch = finite.logicalNot().logicalAnd(notSame).toType(DataType.INT64, false).sum().getLong();
            NDArray d64 = dFinite.toType(DataType.FLOAT64, false);
            NDArray a64 = aF.toType(DataType.FLOAT64, false);
            NDArray b64 = bF.toType(DataType.FLOAT64, false);
            s.count += n;
            s.equal += n - differing;
            s.overTol += over;
            s.nanA += count(nanA);
            s.nanB += count(nanB);
            s.infA += count(infA.logicalAnd(nanA.logicalNot()));
            s.infB += count(infB.logicalAnd(nanB.logicalNot()));
            s.nonFiniteMismatch += nonFiniteMismatch;
            s.skipped += count(finite.logicalNot());
            s.sumAbs += d64.sum().getDouble();
            s.sumSq += d64.mul(d64).sum().getDouble();
            s.sumSqA += a64.mul(a64).sum().getDouble();
            s.sumSqB += b64.mul(b64).sum().getDouble();
            long hf = r.hfStart() + from;
            if (differing > 0) {
                long first = notSame.toType(DataType.INT32, false).argMax().getLong();
                s.offerFirst(hf + first, value(r.dtA(), r.a(), r.offA(), from + first),
                        value(r.dtB(), r.b(), r.offB(), from + first));
            }
            double max = dFinite.max().toType(DataType.FLOAT64, false).getDouble();
            if (max > 0) {
                // The exact maximum in double, as the scalar engine measures it, at the first index
                // holding the float maximum.
                long at = dFinite.argMax().getLong();
                double x = value(r.dtA(), r.a(), r.offA(), from + at);
                double y = value(r.dtB(), r.b(), r.offB(), from + at);
                s.offerMax(Math.abs(x - y), hf + at, x, y);
            }
        }
    }

    private static long count(NDArray mask) {
        return mask.toType(DataType.INT64, false).sum().getLong();
    }

    private static double value(DType t, MemorySegment seg, long off, long i) {
        return t.read(seg, off + i * t.size());
    }

    private static NDArray load(NDManager m, Arena scratch, MemorySegment seg, long off, DType t, int n) {
        Shape shape = new Shape(n);
        if (t == DType.BF16) {
            MemorySegment f = scratch.allocate(4L * n, 64);
            for (long i = 0; i < n; i++) {
                f.set(MappedFile.INT_LE, 4 * i, seg.get(MappedFile.SHORT_LE, off + 2 * i) << 16);
            }
            return m.create(f.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN), shape, DataType.FLOAT32);
        }
        // Never hand libtorch a view of a mapped input: if the file is truncated while we read, the fault must
        // happen in Java (where it becomes "changed while it was being read"), not in native code (a JVM crash).
        MemorySegment copy = scratch.allocate((long) n * t.size(), 64);
        MemorySegment.copy(seg, off, copy, 0, (long) n * t.size());
        ByteBuffer bytes = copy.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        if (t == DType.F16) {
            return m.create(bytes, shape, DataType.FLOAT16).toType(DataType.FLOAT32, false);
        }
        return m.create(bytes, shape, DataType.FLOAT32);
    }
}
