package dev.ckptdiff.diff;

import java.lang.foreign.MemorySegment;

import dev.ckptdiff.io.MappedFile;
import dev.ckptdiff.tensor.DType;

/**
 * Settles the common case, two runs of the same dtype with identical bytes and no NaN or infinity,
 * in one pass over 64-bit words: equality by XOR, non-finite values by testing every lane's
 * exponent for all ones (a SWAR zero-lane test). A plain loop, so the JIT compiles it within
 * milliseconds; the vector kernel only sees runs that differ.
 */
final class ByteScreen {
    private static final long BLOCK = 4096;
    /**
     * Rows of at most this many words are bulk-copied into arrays and screened there. A large MoE
     * has tens of thousands of small tensors, most compared while the JIT is still busy: a plain
     * array loop runs fast in the interpreter and in C1 code, segment reads only once C2 has
     * compiled them.
     */
    private static final int SMALL_WORDS = 8192;
    private static final ThreadLocal<long[][]> SCRATCH = ThreadLocal.withInitial(() -> new long[2][SMALL_WORDS]);

    private ByteScreen() {
    }

    /** True when both sides hold the same bytes and side A holds no NaN or infinity. */
    static boolean identicalAndFinite(Run r) {
        DType t = r.dtA();
        long bytes = r.count() * t.size();
        long exp;
        long low;
        long high;
        switch (t) {
            case BF16 -> {
                exp = 0x7F807F807F807F80L;
                low = 0x0001000100010001L;
                high = 0x8000800080008000L;
            }
            case F16 -> {
                exp = 0x7C007C007C007C00L;
                low = 0x0001000100010001L;
                high = 0x8000800080008000L;
            }
            case F32 -> {
                exp = 0x7F8000007F800000L;
                low = 0x0000000100000001L;
                high = 0x8000000080000000L;
            }
            case F64 -> {
                exp = 0x7FF0000000000000L;
                low = 1L;
                high = 0x8000000000000000L;
            }
            default -> {
                if (t.isFloatingPoint()) {
                    return false; // 8-bit floats: let the exact path count their NaNs
                }
                for (long i = 0; i < r.rows(); i++) {
                    long pa = r.offA() + i * r.strideA();
                    long pb = r.offB() + i * r.strideB();
                    if (MemorySegment.mismatch(r.a(), pa, pa + bytes, r.b(), pb, pb + bytes) >= 0) {
                        return false;
                    }
                }
                return true;
            }
        }
        for (long i = 0; i < r.rows(); i++) {
            if (!row(r.a(), r.offA() + i * r.strideA(), r.b(), r.offB() + i * r.strideB(), bytes, t, exp, low, high)) {
                return false;
            }
        }
        return true;
    }

    private static boolean row(MemorySegment a, long pa, MemorySegment b, long pb, long bytes, DType t, long exp,
                               long low, long high) {
        long words = bytes >>> 3;
        if (words <= SMALL_WORDS) {
            if (!smallRow(a, pa, b, pb, (int) words, exp, low, high)) {
                return false;
            }
            words = 0; // settled: only the tail is left
        }
        for (long w = 0; w < words; ) {
            long end = Math.min(words, w + BLOCK / 8);
            long diff = 0;
            long nonFinite = 0;
            for (; w < end; w++) {
                long x = a.get(MappedFile.LONG_LE, pa + (w << 3));
                long y = b.get(MappedFile.LONG_LE, pb + (w << 3));
                diff |= x ^ y;
                long z = (x & exp) ^ exp; // a lane is zero where the exponent is all ones
                nonFinite |= (z - low) & ~z & high;
            }
            if ((diff | nonFinite) != 0) {
                return false;
            }
        }
        long tail = (bytes >>> 3) << 3; // the last few elements
        if (MemorySegment.mismatch(a, pa + tail, pa + bytes, b, pb + tail, pb + bytes) >= 0) {
            return false;
        }
        for (long i = tail; i < bytes; i += t.size()) {
            if (!Double.isFinite(t.read(a, pa + i))) {
                return false;
            }
        }
        return true;
    }

    private static boolean smallRow(MemorySegment a, long pa, MemorySegment b, long pb, int words, long exp, long low,
                                    long high) {
        long[][] scratch = SCRATCH.get();
        long[] x = scratch[0];
        long[] y = scratch[1];
        MemorySegment.copy(a, MappedFile.LONG_LE, pa, x, 0, words);
        MemorySegment.copy(b, MappedFile.LONG_LE, pb, y, 0, words);
        long diff = 0;
        long nonFinite = 0;
        for (int w = 0; w < words; w++) {
            diff |= x[w] ^ y[w];
            long z = (x[w] & exp) ^ exp;
            nonFinite |= (z - low) & ~z & high;
        }
        return (diff | nonFinite) == 0;
    }
}
