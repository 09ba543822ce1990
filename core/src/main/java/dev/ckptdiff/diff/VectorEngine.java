package dev.ckptdiff.diff;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import dev.ckptdiff.tensor.DType;

/**
 * The default engine: Java Vector API over the mapped segments. Each block of elements is screened
 * in float lanes (sums, equal and out-of-tolerance counts, block maximum); only a block that holds
 * a non-finite value, the first difference or a new maximum is looked at again element by element,
 * through the same code as {@link ScalarEngine}, so counts and indexes agree with it exactly.
 * bf16, fp16 and fp32 are decoded in lanes; other types go to the scalar engine.
 */
public final class VectorEngine implements ComputeEngine {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_128;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    private static final int L = F.length();
    private static final int BLOCK = 1024;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final float F16_SCALE = 0x1p112f;
    /**
     * Runs below this many elements go to the scalar engine: the Vector API is slow until C2 has
     * compiled it (every lane operation allocates before then), and tens of thousands of small MoE
     * tensors would pay that warm-up for no gain.
     */
    static final long SMALL_RUN = 1 << 16;

    private final long smallRun;

    public VectorEngine() {
        this(SMALL_RUN);
    }

    /** With {@code smallRun} 0 every run of a decoded type goes through the vector kernel (for tests). */
    VectorEngine(long smallRun) {
        this.smallRun = smallRun;
    }

    @Override
    public String name() {
        return "vector";
    }

    static boolean decodes(DType t) {
        return t == DType.BF16 || t == DType.F16 || t == DType.F32;
    }

    @Override
    public void compare(Run r, Tolerance tol, Stats s, boolean screen) {
        if (screen && r.dtA() == r.dtB() && ByteScreen.identicalAndFinite(r)) {
            // The common case, two copies that agree: settled at memory speed without decoding.
            s.count += r.elements();
            s.equal += r.elements();
            s.normsSkipped += r.elements();
            return;
        }
        if (!decodes(r.dtA()) || !decodes(r.dtB()) || r.elements() < smallRun) {
            ScalarEngine.INSTANCE.compare(r, tol, s, false);
            return;
        }
        for (long i = 0; i < r.rows(); i++) {
            compareRow(r.rows() == 1 ? r : r.row(i), tol, s);
        }
    }

    private static void compareRow(Run r, Tolerance tol, Stats s) {
        long n = r.count();
        long vectorEnd = n - n % L;
        for (long start = 0; start < vectorEnd; start += BLOCK) {
            block(r, start, Math.min(start + BLOCK, vectorEnd), tol, s);
        }
        ScalarEngine.accumulate(r, vectorEnd, n, tol, s);
    }

    private static void block(Run r, long from, long to, Tolerance tol, Stats s) {
        MemorySegment a = r.a();
        MemorySegment b = r.b();
        int codeA = code(r.dtA());
        int codeB = code(r.dtB());
        long sizeA = r.dtA().size();
        long sizeB = r.dtB().size();
        float rtol = (float) tol.rtol();
        float atol = (float) tol.atol();
        FloatVector vAbs = FloatVector.zero(F);
        FloatVector vSq = FloatVector.zero(F);
        FloatVector vSqA = FloatVector.zero(F);
        FloatVector vSqB = FloatVector.zero(F);
        FloatVector vMax = FloatVector.zero(F);
        long equal = 0;
        long over = 0;
        for (long i = from; i < to; i += L) {
            FloatVector va = load(codeA, a, r.offA() + i * sizeA);
            FloatVector vb = load(codeB, b, r.offB() + i * sizeB);
            FloatVector d = va.sub(vb);
            FloatVector ad = d.abs();
            vAbs = vAbs.add(ad);
            vSq = d.fma(d, vSq);
            vSqA = va.fma(va, vSqA);
            vSqB = vb.fma(vb, vSqB);
            vMax = vMax.max(ad);
            equal += va.reinterpretAsInts().eq(vb.reinterpretAsInts()).trueCount();
            FloatVector limit = va.abs().max(vb.abs()).fma(rtol, atol);
            over += ad.compare(VectorOperators.GT, limit).trueCount();
        }
        double sqA = vSqA.reduceLanes(VectorOperators.ADD);
        double sqB = vSqB.reduceLanes(VectorOperators.ADD);
        double sq = vSq.reduceLanes(VectorOperators.ADD);
        double abs = vAbs.reduceLanes(VectorOperators.ADD);
        if (!Double.isFinite(sqA + sqB + sq + abs)) {
            // NaN or infinity somewhere (or squares past float range): the exact path sorts it out.
            ScalarEngine.accumulate(r, from, to, tol, s);
            return;
        }
        long n = to - from;
        s.count += n;
        s.equal += equal;
        s.overTol += over;
        s.sumAbs += abs;
        s.sumSq += sq;
        s.sumSqA += sqA;
        s.sumSqB += sqB;
        if (equal == n) {
            return;
        }
        if (s.firstDiff < 0) {
            firstDifference(r, from, to, s);
        }
        float blockMax = vMax.reduceLanes(VectorOperators.MAX);
        if (blockMax > 0 && blockMax >= (float) s.maxAbs) {
            for (long i = from; i < to; i++) {
                double x = r.dtA().read(a, r.offA() + i * sizeA);
                double y = r.dtB().read(b, r.offB() + i * sizeB);
                double d = Math.abs(x - y);
                if (d > 0) {
                    s.offerMax(d, r.hfStart() + i, x, y);
                }
            }
        }
    }

    private static void firstDifference(Run r, long from, long to, Stats s) {
        for (long i = from; i < to; i++) {
            double x = r.dtA().read(r.a(), r.offA() + i * r.dtA().size());
            double y = r.dtB().read(r.b(), r.offB() + i * r.dtB().size());
            if (Float.floatToRawIntBits((float) x) != Float.floatToRawIntBits((float) y)) {
                s.offerFirst(r.hfStart() + i, x, y);
                return;
            }
        }
    }

    private static int code(DType t) {
        return switch (t) {
            case BF16 -> 0;
            case F16 -> 1;
            default -> 2;
        };
    }

    private static FloatVector load(int code, MemorySegment seg, long off) {
        if (code == 0) {
            IntVector wide = (IntVector) ShortVector.fromMemorySegment(S, seg, off, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            return wide.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        }
        if (code == 1) {
            return halfToFloat((IntVector) ShortVector.fromMemorySegment(S, seg, off, LE)
                    .convertShape(VectorOperators.S2I, I, 0));
        }
        return FloatVector.fromMemorySegment(F, seg, off, LE);
    }

    /**
     * IEEE half to float in lanes, exactly: shift exponent and mantissa into float position, scale by
     * 2^112 to rebias (exact, also for subnormals), and force the exponent to all ones for inf/NaN.
     */
    private static FloatVector halfToFloat(IntVector h) {
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector em = h.and(0x7fff);
        FloatVector scaled = em.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE);
        IntVector bits = scaled.reinterpretAsInts();
        IntVector special = em.lanewise(VectorOperators.LSHL, 13).or(0x7f800000);
        bits = bits.blend(special, em.compare(VectorOperators.GE, 0x7c00));
        return bits.or(sign).reinterpretAsFloats();
    }
}
