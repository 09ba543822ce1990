package dev.ckptdiff.shard;

import dev.ckptdiff.io.BadInputException;

/** One of {@code count} parts of a comparison, numbered from 0 (a Slurm array or Kubernetes index as it is). */
public record Shard(int index, int count) {

    /** "I/N" with 0 <= I < N. */
    public static Shard parse(String s) {
        String[] p = s.split("/", -1);
        try {
            if (p.length == 2) {
                int i = Integer.parseInt(p[0].strip());
                int n = Integer.parseInt(p[1].strip());
                if (n >= 1 && i >= 0 && i < n) {
                    return new Shard(i, n);
                }
            }
        } catch (NumberFormatException ignored) {
            // falls through to the one message below
        }
        throw new BadInputException("--shard takes I/N with 0 <= I < N (e.g. 0/8 ... 7/8), not '" + s + "'");
    }
}
