package dev.ckptdiff.optim;

/**
 * Something wrong with the optimizer state of one rank folder. {@code param} is empty, and
 * {@code flatOffset}/{@code element} are -1, where the finding is about the folder as a whole.
 *
 * @param flatOffset where the element lies in the file's flat tensor (coalesced form) or its bucket tensor
 * @param element    the element's row-major index within the parameter
 */
public record OptimFinding(Kind kind, String folder, String param, long flatOffset, long element, String message) {

    public enum Kind {
        /** A master does not round to the stored weight: a resume would train other weights. */
        MASTER_MISMATCH,
        /** exp_avg / exp_avg_sq not finite, or exp_avg_sq negative. */
        BAD_MOMENT,
        /** A gap between parameters (alignment padding) holds something other than zero. */
        GAP_NOT_ZERO,
        /** The layout cannot be proven, so no parameter could be located. */
        UNPROVEN,
        /** The two stages' copies of tied embeddings differ: a resume trains them apart. */
        TIED_COPIES_DIFFER,
        /** A file or parameter is missing. */
        MISSING
    }

    public String where() {
        return folder + (param.isEmpty() ? "" : " " + param)
                + (element < 0 ? "" : " element " + element + " (flat offset " + flatOffset + ")");
    }
}
