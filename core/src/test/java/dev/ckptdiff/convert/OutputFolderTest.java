package dev.ckptdiff.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.InputPaths;

class OutputFolderTest {
    private static long entries(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.count();
        }
    }

    @Test
    void outputsNoDiskHoldsAreRefusedBeforeAnythingIsWritten(@TempDir Path tmp) throws IOException {
        Path input = Files.createDirectories(tmp.resolve("in"));
        OutputFolder.Target t = new OutputFolder.Target(tmp.resolve("out"), false);
        for (long bytes : new long[]{Long.MAX_VALUE, Long.MAX_VALUE - (32L << 20), 1L << 60, -5}) {
            BadInputException e = assertThrows(BadInputException.class,
                    () -> OutputFolder.create(t, InputPaths.of(input), bytes).close());
            assertTrue(e.getMessage().contains("beyond any disk") || e.getMessage().contains("MiB free"), e.getMessage());
        }
        assertEquals(1, entries(tmp), "only the input: no output, no partial folder");
    }

    @Test
    void theHomeFolderAndWhatHoldsItAreNeverReplaced(@TempDir Path tmp) throws IOException {
        Path home = Files.createDirectories(tmp.resolve("users/me"));
        Files.writeString(home.resolve("notes.txt"), "mine");
        String saved = System.getProperty("user.home");
        System.setProperty("user.home", home.toString());
        try {
            for (Path out : new Path[]{home, tmp.resolve("users"), tmp.resolve("users/me/../me")}) {
                BadInputException e = assertThrows(BadInputException.class, () -> OutputFolder.create(
                        new OutputFolder.Target(out, true), InputPaths.of(tmp.resolve("in")), 10).close());
                assertTrue(e.getMessage().contains("holds your home folder"), e.getMessage());
            }
        } finally {
            System.setProperty("user.home", saved);
        }
        assertEquals("mine", Files.readString(home.resolve("notes.txt")));
        BadInputException cwd = assertThrows(BadInputException.class, () -> OutputFolder.create(
                new OutputFolder.Target(Path.of("").toAbsolutePath(), true), InputPaths.of(tmp), 10).close());
        assertTrue(cwd.getMessage().contains("holds the current folder"), cwd.getMessage());
    }

    @Test
    void aCommittedOutputReplacesTheOldOneAndLeavesNothingBehind(@TempDir Path tmp) throws IOException {
        Path out = Files.createDirectories(tmp.resolve("out"));
        Files.writeString(out.resolve("old.txt"), "old");
        try (OutputFolder f = OutputFolder.create(new OutputFolder.Target(out, true), InputPaths.of(tmp.resolve("in")), 10)) {
            Files.writeString(f.dir().resolve("new.txt"), "new");
            f.commit();
        }
        assertTrue(Files.isRegularFile(out.resolve("new.txt")) && !Files.exists(out.resolve("old.txt")));
        assertEquals(1, entries(tmp));
    }
}
