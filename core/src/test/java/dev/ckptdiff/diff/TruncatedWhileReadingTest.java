package dev.ckptdiff.diff;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.io.BadInputException;

/**
 * A training job that rewrites a step while we compare it truncates files under our mappings. The reads then fault
 * (SIGBUS); that must end as one error naming the file, never as an internal error, a hang or a crash.
 */
class TruncatedWhileReadingTest {

    @Test
    void aFileTruncatedAfterOpeningIsNamedAsChanged(@TempDir Path tmp) throws IOException {
        for (int threads : new int[]{1, 2}) {
            Path step = tmp.resolve("t" + threads);
            copy(Fixtures.step("llama_tp2"), step);
            Path victim = step.resolve("actor/iter_0000010/mp_rank_01/model_optim_rng.pt");
            DiffJob.Prepared p = DiffJob.prepare(DiffJob.pairs(List.of(step)).getFirst());
            try (FileChannel ch = FileChannel.open(victim, StandardOpenOption.WRITE)) {
                ch.truncate(100); // keeps nothing of the tensor data the mapping still points at
            }
            Differ d = new Differ(new VectorEngine(), new Differ.Options(Tolerance.DEFAULT, false, threads), b -> { });
            BadInputException e = assertThrows(BadInputException.class, () -> DiffJob.compare(p, d, b -> { }));
            assertTrue(e.getMessage().startsWith(victim + ": changed while it was being read (100 bytes now, "),
                    e.getMessage());
        }
    }

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path dst = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(dst);
                } else {
                    Files.copy(p, dst);
                }
            }
        }
    }
}
