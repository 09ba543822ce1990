package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The hostile and careless convert cases of testdata/hostile/gen_convert.py, each run on a copy in a
 * temporary folder under the 256 MiB heap and a time limit: the expected exit code and one-line
 * error, and every input byte-for-byte as it was. Then what becomes of partial outputs when a
 * conversion is stopped or killed.
 */
class HostileConvertCliTest {
    /** Each case works in a folder of its own under here; JUnit deletes it all at the end. */
    @TempDir
    static Path scratch;

    static Path cases() {
        return Cli.fixtures().resolve("hostile/convert");
    }

    @TestFactory
    List<DynamicTest> everyHostileCase() {
        JsonNode expected = Cli.read(cases().resolve("EXPECTED.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : expected.properties()) {
            tests.add(DynamicTest.dynamicTest(e.getKey(), () -> runCase(e.getKey(), e.getValue())));
        }
        assertTrue(tests.size() >= 20, "the corpus is there: " + tests.size());
        return tests;
    }

    private static void runCase(String name, JsonNode c) throws IOException {
        Path tmp = Files.createTempDirectory(scratch, name);
        Path work = tmp.resolve("case");
        Files.createDirectories(work);
        if (Files.isDirectory(cases().resolve(name))) {
            Cli.copyTree(cases().resolve(name), work.resolve(name));
        }
        for (JsonNode op : c.path("setup")) {
            setUp(work, op);
        }
        Path out = tmp.resolve("out");
        List<String> args = new ArrayList<>();
        c.get("args").forEach(a -> args.add(a.asText().replace("{case}", work.toString()).replace("{out}", out.toString())));
        Map<String, String> before = hashTree(work);
        Cli r = assertTimeoutPreemptively(Duration.ofSeconds(c.get("seconds").asInt()),
                () -> Cli.run(args.toArray(String[]::new)), name);
        List<Integer> exits = new ArrayList<>();
        if (c.get("exit").isArray()) {
            c.get("exit").forEach(x -> exits.add(x.asInt()));
        } else {
            exits.add(c.get("exit").asInt());
        }
        assertTrue(exits.contains(r.exit()), name + ": exit " + r.exit() + ", expected " + exits + "\n" + r.out() + r.err());
        if (r.exit() == 2) {
            String err = r.err().strip();
            assertFalse(err.contains("\n"), "one line: " + err);
            assertTrue(err.startsWith("ckpt-diff: "), err);
            assertFalse(err.contains("Exception"), err);
            c.path("stderr").forEach(s -> assertTrue(err.contains(s.asText()), "'" + s.asText() + "' in: " + err));
            if (c.has("any_of")) {
                List<String> any = new ArrayList<>();
                c.get("any_of").forEach(s -> any.add(s.asText()));
                assertTrue(any.stream().anyMatch(err::contains), any + " in: " + err);
            }
            assertFalse(Files.exists(out, LinkOption.NOFOLLOW_LINKS), "nothing written on refusal");
        } else {
            assertTrue(Files.isRegularFile(out.resolve(c.get("output").asText())), r.out());
        }
        assertEquals(before, hashTree(work), name + ": the inputs changed");
        try (Stream<Path> s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().contains(".partial-")), "no partial output left");
        }
    }

    private static void setUp(Path work, JsonNode op) throws IOException {
        Path at = work.resolve(op.get(1).asText());
        switch (op.get(0).asText()) {
            case "copy" -> {
                Path from = Cli.fixtures().resolve(op.get(1).asText());
                Path to = work.resolve(op.get(2).asText());
                if (Files.isDirectory(from)) {
                    Cli.copyTree(from, to);
                } else {
                    Files.createDirectories(to.getParent());
                    Files.copy(from, to);
                }
            }
            case "mkdir" -> Files.createDirectories(at);
            case "link" -> Files.createSymbolicLink(at, Path.of(op.get(2).asText()));
            default -> throw new AssertionError("unknown setup " + op);
        }
    }

    /** Every entry under {@code root}, links not followed: a file's SHA-256, a link's target, or "dir". */
    static Map<String, String> hashTree(Path root) throws IOException {
        Map<String, String> out = new TreeMap<>();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                out.put(root.relativize(dir).toString(), "dir");
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                String key = root.relativize(file).toString();
                if (attrs.isSymbolicLink()) {
                    out.put(key, "link -> " + Files.readSymbolicLink(file));
                } else {
                    try (var in = Files.newInputStream(file)) {
                        MessageDigest md = MessageDigest.getInstance("SHA-256");
                        byte[] buf = new byte[1 << 16];
                        for (int n; (n = in.read(buf)) > 0; ) {
                            md.update(buf, 0, n);
                        }
                        out.put(key, HexFormat.of().formatHex(md.digest()));
                    } catch (java.security.NoSuchAlgorithmException e) {
                        throw new AssertionError(e);
                    }
                }
                return FileVisitResult.CONTINUE;
            }
        });
        return out;
    }

    /** Whether this process ignores SIGINT (inherited by the JVMs it starts), from /proc/self/status. */
    static boolean intIgnored() throws IOException {
        Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) {
            return false;
        }
        return Files.readAllLines(status).stream().filter(l -> l.startsWith("SigIgn:"))
                .anyMatch(l -> (Long.parseUnsignedLong(l.substring(7).strip(), 16) & (1L << 1)) != 0);
    }

    /** A PID no process has: one that just exited (the kernel does not hand it out again at once). */
    static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        assertEquals(0, p.waitFor());
        assertFalse(ProcessHandle.of(p.pid()).map(ProcessHandle::isAlive).orElse(false));
        return p.pid();
    }

    @Test
    void partialsOfDeadProcessesAreReclaimedAndOthersKept(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("meg");
        long dead = deadPid();
        Path stale = tmp.resolve(".meg.partial-" + dead);
        Files.createDirectories(stale.resolve("iter_0000000/mp_rank_00"));
        Files.writeString(stale.resolve("iter_0000000/mp_rank_00/model_optim_rng.pt"), "half-written");
        Process alive = new ProcessBuilder("sleep", "60").start();
        try {
            Path running = tmp.resolve(".meg.partial-" + alive.pid());
            Files.createDirectories(running);
            Path unrelated = tmp.resolve(".other.partial-" + dead);
            Files.createDirectories(unrelated);
            Cli r = Cli.run("convert", "to-megatron", Cli.fixtures().resolve("check/llama").toString(), "--out", out.toString());
            assertEquals(0, r.exit(), r.out() + r.err());
            assertFalse(Files.exists(stale), "the dead process's partial is reclaimed");
            assertTrue(r.err().contains("removed " + stale) && r.err().contains("process " + dead)
                    && r.err().contains("no longer running"), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(Files.isDirectory(running), "a running conversion's partial is left alone");
            assertTrue(Files.isDirectory(unrelated), "another output's partial is left alone");
            assertTrue(Files.isRegularFile(out.resolve("latest_checkpointed_iteration.txt")));
        } finally {
            alive.destroyForcibly().waitFor();
        }
    }

    /**
     * A real conversion in its own JVM, stopped by TERM and by INT while it writes: the shutdown hook
     * removes its partial output. The JVM runs interpreted (-Xint) so that the conversion lasts long
     * enough to be caught in the middle. (A JVM started with INT ignored, as background jobs of a
     * shell without job control are, keeps ignoring it: INT is then not tried.)
     */
    @Test
    void termAndIntRemoveThePartialOutput(@TempDir Path tmp) throws Exception {
        for (String signal : intIgnored() ? List.of("TERM") : List.of("TERM", "INT")) {
            Path out = tmp.resolve("hf-" + signal);
            Path java = Path.of(System.getProperty("java.home"), "bin", "java");
            ProcessBuilder pb = new ProcessBuilder(java.toString(), "-Xint", "-Xmx256m", "--add-modules",
                    "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    "dev.ckptdiff.cli.Main", "convert", "to-hf", Cli.fixtures().resolve("qwen2_tp2_pp2/global_step_10").toString(),
                    "--out", out.toString(), "--dtype", "fp32").redirectErrorStream(true)
                    .redirectOutput(tmp.resolve(signal + ".log").toFile());
            Process p = pb.start();
            Path partial = tmp.resolve(".hf-" + signal + ".partial-" + p.pid());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.exists(partial) && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertTrue(Files.exists(partial) && p.isAlive(), "caught mid-conversion: " + Files.readString(tmp.resolve(signal + ".log")));
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor());
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "stopped");
            String log = signal + " (exit " + p.exitValue() + "): " + Files.readString(tmp.resolve(signal + ".log"));
            assertFalse(Files.exists(partial), log + ": the partial output is removed");
            assertFalse(Files.exists(out), log + ": no output appears");
        }
    }

    /** Reports of the diff and of merge are outputs too: never written over or into what they read. */
    @Test
    void reportsAreNeverWrittenOverTheirInputs(@TempDir Path tmp) throws IOException {
        Path step = tmp.resolve("global_step_10");
        Cli.copyTree(Cli.fixtures().resolve("llama_tp2/global_step_10"), step);
        Map<String, String> before = hashTree(step);
        Cli html = Cli.run("--no-progress", step.toString(), "--html", step.resolve("actor/hf_model/model.safetensors").toString());
        assertEquals(2, html.exit(), html.out());
        assertTrue(html.err().startsWith("ckpt-diff: --html ") && html.err().contains("lies inside the input"), html.err());
        assertEquals(before, hashTree(step));

        Path part = tmp.resolve("part-0.json");
        assertEquals(0, Cli.run("--no-progress", "--shard", "0/1", "--json", part.toString(), step.toString()).exit());
        String written = Files.readString(part);
        for (String option : List.of("--json", "--html")) {
            Cli merge = Cli.run("merge", part.toString(), option, part.toString());
            assertEquals(2, merge.exit(), option + ": " + merge.out());
            assertTrue(merge.err().startsWith("ckpt-diff: " + option + " "), merge.err());
            assertEquals(written, Files.readString(part), option);
        }
    }
}
