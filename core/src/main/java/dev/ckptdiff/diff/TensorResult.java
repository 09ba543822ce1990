package dev.ckptdiff.diff;

import java.util.List;

/**
 * The outcome for one tensor (or one internal check). {@code where} lists, per pair of source
 * pieces that differ, which file, key, part and element of each side the difference sits in.
 */
public record TensorResult(String name, String kind, Verdict verdict, String dtypeA, String dtypeB, long[] shapeA,
                           long[] shapeB, Stats stats, List<Where> where, List<String> notes) {

    /** A pair of pieces with differences, and the worst and first differing element in each source. */
    public record Where(Source a, Source b, long rowFrom, long rows, long differing, long overTol, long nonFinite,
                        Element first, Element max) {
    }

    /** One element: its index in the HF tensor and in each side's source tensor, and both values. */
    public record Element(String hfIndex, String indexA, String indexB, double a, double b) {
    }

    public String layerGroup() {
        int i = name.indexOf("layers.");
        if (i < 0) {
            return "(global)";
        }
        int end = name.indexOf('.', i + 7);
        return name.substring(0, end < 0 ? name.length() : end);
    }
}
