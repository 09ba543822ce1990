package dev.ckptdiff.diff;

/**
 * What a comparison of two runs of values accumulates. Sums skip pairs where either value is NaN or
 * infinite (those are counted instead), so one bad element cannot hide every other metric. Indexes
 * are flat row-major indexes into the HF-shaped tensor.
 */
public final class Stats {
    public long count;
    public long equal;        // bitwise equal as float32
    public long overTol;      // finite pairs outside the tolerance
    public long nanA;
    public long nanB;
    public long infA;
    public long infB;
    public long nonFiniteMismatch; // pairs where a non-finite value is not matched bit for bit
    public long skipped;           // pairs left out of the sums: either value NaN or infinite
    public double sumAbs;
    public double sumSq;
    public double sumSqA;
    public double sumSqB;
    public double maxAbs = -1;
    public long maxIndex = -1;
    public double maxA;
    public double maxB;
    public long firstDiff = -1;
    /** Elements found bitwise equal by a byte screen, whose norms were not accumulated. */
    public long normsSkipped;
    public double firstA;
    public double firstB;

    public boolean allEqual() {
        return equal == count;
    }

    public void offerMax(double abs, long index, double a, double b) {
        if (abs > maxAbs || (abs == maxAbs && index < maxIndex)) {
            maxAbs = abs;
            maxIndex = index;
            maxA = a;
            maxB = b;
        }
    }

    public void offerFirst(long index, double a, double b) {
        if (firstDiff < 0 || index < firstDiff) {
            firstDiff = index;
            firstA = a;
            firstB = b;
        }
    }

    public void add(Stats o) {
        count += o.count;
        equal += o.equal;
        overTol += o.overTol;
        nanA += o.nanA;
        nanB += o.nanB;
        infA += o.infA;
        infB += o.infB;
        nonFiniteMismatch += o.nonFiniteMismatch;
        skipped += o.skipped;
        normsSkipped += o.normsSkipped;
        sumAbs += o.sumAbs;
        sumSq += o.sumSq;
        sumSqA += o.sumSqA;
        sumSqB += o.sumSqB;
        if (o.maxIndex >= 0) {
            offerMax(o.maxAbs, o.maxIndex, o.maxA, o.maxB);
        }
        if (o.firstDiff >= 0) {
            offerFirst(o.firstDiff, o.firstA, o.firstB);
        }
    }

    public long nonFinite() {
        return nanA + nanB + infA + infB;
    }

    public double meanAbs() {
        long finite = count - skipped;
        return finite == 0 ? 0 : sumAbs / finite;
    }

    /** ||a - b|| / ||b|| over finite pairs; 0 when both are zero. */
    public double relL2() {
        if (sumSq == 0) {
            return 0;
        }
        return sumSqB == 0 ? Double.POSITIVE_INFINITY : Math.sqrt(sumSq / sumSqB);
    }

    /**
     * Cosine similarity from 1 - cos = (||a-b||^2 - (||a|| - ||b||)^2) / (2 ||a|| ||b||), which keeps
     * the small difference from 1 that a plain dot product loses to cancellation.
     */
    public double cosine() {
        return 1 - oneMinusCosine();
    }

    public double oneMinusCosine() {
        double na = Math.sqrt(sumSqA);
        double nb = Math.sqrt(sumSqB);
        if (na == 0 || nb == 0) {
            return na == nb ? 0 : 1;
        }
        double dn = (sumSqA - sumSqB) / (na + nb);
        return Math.max(0, (sumSq - dn * dn) / (2 * na * nb));
    }
}
