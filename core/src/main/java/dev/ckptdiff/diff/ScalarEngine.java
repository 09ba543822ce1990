package dev.ckptdiff.diff;

/**
 * The reference engine: one element at a time, in double. Also the fallback for element types the
 * vector engine does not decode (64-bit, integer and 8-bit float types).
 */
public final class ScalarEngine implements ComputeEngine {
    public static final ScalarEngine INSTANCE = new ScalarEngine();

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void compare(Run r, Tolerance tol, Stats s, boolean screen) {
        for (long i = 0; i < r.rows(); i++) {
            Run row = r.rows() == 1 ? r : r.row(i);
            accumulate(row, 0, row.count(), tol, s);
        }
    }

    /** Elements [from, to) of a one-row run. */
    static void accumulate(Run r, long from, long to, Tolerance tol, Stats s) {
        int sa = r.dtA().size();
        int sb = r.dtB().size();
        for (long i = from; i < to; i++) {
            double a = r.dtA().read(r.a(), r.offA() + i * sa);
            double b = r.dtB().read(r.b(), r.offB() + i * sb);
            element(a, b, r.hfStart() + i, tol, s);
        }
    }

    static void element(double a, double b, long index, Tolerance tol, Stats s) {
        s.count++;
        // Equality as float32 bits: every stored type converts to float32 exactly except f64/i64.
        boolean same = Float.floatToRawIntBits((float) a) == Float.floatToRawIntBits((float) b)
                && (a == b || (Double.isNaN(a) && Double.isNaN(b)));
        if (same) {
            s.equal++;
        } else {
            s.offerFirst(index, a, b);
        }
        boolean finA = Double.isFinite(a);
        boolean finB = Double.isFinite(b);
        if (!finA || !finB) {
            if (Double.isNaN(a)) {
                s.nanA++;
            } else if (!finA) {
                s.infA++;
            }
            if (Double.isNaN(b)) {
                s.nanB++;
            } else if (!finB) {
                s.infB++;
            }
            if (!same) {
                s.nonFiniteMismatch++;
            }
            s.skipped++;
            return;
        }
        double d = Math.abs(a - b);
        s.sumAbs += d;
        s.sumSq += d * d;
        s.sumSqA += a * a;
        s.sumSqB += b * b;
        if (d > tol.atol() + tol.rtol() * Math.max(Math.abs(a), Math.abs(b))) {
            s.overTol++;
        }
        if (d > 0) {
            s.offerMax(d, index, a, b);
        }
    }
}
