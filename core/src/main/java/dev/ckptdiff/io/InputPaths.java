package dev.ckptdiff.io;

import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What a command reads, by real path, so that no output can land on it: replacing an output deletes
 * it, and writing one creates files in it. Links and {@code ..} are resolved, and the files an input
 * folder links to count as inputs too (a Hugging Face cache snapshot is a folder of links into
 * {@code blobs/}, which {@code --out blobs --force} would otherwise delete).
 */
public final class InputPaths {
    /** How deep into an input folder links are looked for: the shard files of a step sit three levels down. */
    private static final int LINK_DEPTH = 4;
    /** Enough for any checkpoint's entries; a folder with more (say, a home folder) is protected as a whole anyway. */
    private static final int LINK_ENTRIES = 200_000;

    /** Real path → the path the user gave, for the message. */
    private final Map<Path, Path> real;

    private InputPaths(Map<Path, Path> real) {
        this.real = real;
    }

    public static InputPaths of(Collection<Path> inputs) {
        Map<Path, Path> real = new LinkedHashMap<>();
        for (Path given : inputs.stream().filter(Objects::nonNull).toList()) {
            Path r = resolve(given);
            real.putIfAbsent(r, given);
            if (Files.isDirectory(r)) {
                linkTargets(r).forEach(t -> real.putIfAbsent(t, given));
            }
        }
        return new InputPaths(real);
    }

    public static InputPaths of(Path... inputs) {
        return of(java.util.Arrays.asList(inputs));
    }

    /**
     * Refuses {@code out} when it is, holds or lies inside an input. {@code option} names it in the
     * message (e.g. {@code --out}).
     */
    public void refuseOverlap(String option, Path out) {
        if (out.toString().isEmpty()) {
            throw new BadInputException(option + " is empty; give the folder to write");
        }
        Path o = resolve(out);
        if (o.getParent() == null) {
            throw new BadInputException(option + " " + out + " is a filesystem root; give a folder to write");
        }
        for (Map.Entry<Path, Path> e : real.entrySet()) {
            Path in = e.getKey();
            String how = o.equals(in) ? "is the input " : in.startsWith(o) ? "contains the input " : o.startsWith(in)
                    ? "lies inside the input " : null;
            if (how != null) {
                String input = e.getValue().toString() + (in.equals(resolve(e.getValue())) ? "" : " (" + in + ")");
                throw new BadInputException(option + " " + out + (o.toString().equals(out.toString()) ? "" : " (" + o + ")")
                        + " " + how + input + "; writing there would replace or change the input: choose a folder"
                        + " outside every input");
            }
        }
    }

    /** Whether {@code p} (resolved) is, holds or lies inside an input. */
    public boolean overlaps(Path p) {
        Path o = resolve(p);
        return real.keySet().stream().anyMatch(in -> o.equals(in) || in.startsWith(o) || o.startsWith(in));
    }

    /**
     * The real path of {@code p}, which need not exist: its longest existing prefix is resolved
     * (links and {@code ..} as the kernel sees them), then the rest is appended, where no link can
     * hide since none of it exists yet.
     */
    public static Path resolve(Path p) {
        Path abs = p.toAbsolutePath();
        for (int n = abs.getNameCount(); n >= 0; n--) {
            Path prefix = n == 0 ? abs.getRoot() : abs.getRoot().resolve(abs.subpath(0, n));
            if (Files.exists(prefix)) {
                try {
                    Path r = prefix.toRealPath();
                    return n == abs.getNameCount() ? r : r.resolve(abs.subpath(n, abs.getNameCount())).normalize();
                } catch (IOException e) {
                    // unreadable on the way (permissions): fall back to a shorter prefix
                }
            }
        }
        return abs.normalize();
    }

    private static List<Path> linkTargets(Path dir) {
        List<Path> targets = new ArrayList<>();
        int[] seen = {0};
        try {
            Files.walkFileTree(dir, Set.<FileVisitOption>of(), LINK_DEPTH, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    if (attrs.isSymbolicLink()) {
                        try {
                            targets.add(file.toRealPath());
                        } catch (IOException e) {
                            // a dangling link reads nothing
                        }
                    }
                    return ++seen[0] > LINK_ENTRIES ? FileVisitResult.TERMINATE : FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException exc) {
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            // what cannot be listed cannot be read either
        }
        return targets;
    }
}
