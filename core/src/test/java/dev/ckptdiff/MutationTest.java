package dev.ckptdiff;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.ckptdiff.inspect.Inspector;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.pickle.PyTree;
import dev.ckptdiff.safetensors.SafetensorsFile;
import dev.ckptdiff.tensor.TensorDigest;
import dev.ckptdiff.torch.TorchFile;

/**
 * Real files with random bytes changed must either still read or fail with a BadInputException:
 * never another exception, never a hang. Mutations are aimed at the structures a reader trusts —
 * the pickle, the zip records, the safetensors header — where a blind flip would mostly hit data.
 */
class MutationTest {
    private static final int MUTANTS = 400;
    private int rejected;

    @Test
    void mutatedTorchSaveFiles(@TempDir Path tmp) throws IOException {
        Path src = Fixtures.step("qwen2_tp2_pp2").resolve("actor/iter_0000010/mp_rank_01_001/model_optim_rng.pt");
        byte[] original = Files.readAllBytes(src);
        int pklEnd = indexOf(original, "archive".getBytes()) < 0 ? 4096 : Math.min(original.length, 64 * 1024);
        int cd = lastIndexOf(original, new byte[]{'P', 'K', 1, 2});
        Random rnd = new Random(11);
        for (int i = 0; i < MUTANTS; i++) {
            byte[] m = original.clone();
            int n = 1 + rnd.nextInt(4);
            for (int k = 0; k < n; k++) {
                // half in the pickle and headers at the front, half in the central directory at the end
                int at = rnd.nextBoolean() ? rnd.nextInt(pklEnd) : cd + rnd.nextInt(original.length - cd);
                m[at] = (byte) rnd.nextInt(256);
            }
            Path f = tmp.resolve("m" + i + ".pt");
            Files.write(f, m);
            expectCleanOutcome(f, () -> readEverything(f));
            Files.delete(f);
        }
        assertMutationsBite(MUTANTS);
    }

    /**
     * The hostile corpus's small torch.save files (shared lists, cycles, repeated keys, control characters,
     * expanded views): their pickles are mostly structure, so nearly every mutation lands on an opcode.
     */
    @Test
    void mutatedHostilePickles(@TempDir Path tmp) throws IOException {
        Path dir = Fixtures.path("hostile/pickle");
        String[] names = {"dag_lists.pt", "cycle.pt", "dup_setitems.pt", "dup_dict_opcode.pt", "control_chars.pt",
                "expanded.pt"};
        Random rnd = new Random(14);
        int total = 0;
        for (String name : names) {
            byte[] original = Files.readAllBytes(dir.resolve(name));
            int pkl = indexOf(original, "data.pkl".getBytes()) + "data.pkl".length();
            // from the pickle's name to the next local header: its header padding and the pickle itself
            int end = indexOf(java.util.Arrays.copyOfRange(original, pkl, original.length), new byte[]{'P', 'K', 3, 4});
            for (int i = 0; i < MUTANTS / names.length; i++, total++) {
                byte[] m = original.clone();
                for (int k = 0; k < 1 + rnd.nextInt(3); k++) {
                    m[pkl + rnd.nextInt(end)] = (byte) rnd.nextInt(256);
                }
                Path f = tmp.resolve("h" + total + ".pt");
                Files.write(f, m);
                expectCleanOutcome(f, () -> readEverything(f));
                Files.delete(f);
            }
        }
        assertMutationsBite(total);
    }

    /** Opens, renders (tree and JSON), lists repeated keys and digests every tensor, as inspect --tree --sha256 does. */
    private static void readEverything(Path f) {
        try (TorchFile tf = TorchFile.open(f)) {
            PyTree tree = new PyTree(12, 40, String::valueOf);
            tree.lines(tf.root());
            tree.json(tf.root());
            tf.duplicateKeys();
            for (var e : Inspector.tensorsIn(tf.root()).entrySet()) {
                TensorDigest.sha256(e.getValue().named(e.getKey(), f.toString()));
            }
        }
    }

    /** The mutations must land in structure often enough for the test to mean something. */
    private void assertMutationsBite(int total) {
        System.out.println(getClass().getSimpleName() + ": " + rejected + " of " + total + " mutants rejected");
        if (rejected < total / 10) {
            fail("only " + rejected + " of " + total + " mutants were rejected: the mutations miss the structures");
        }
    }

    @Test
    void mutatedShardsAreDiffedOrRejected(@TempDir Path tmp) throws IOException {
        Path src = Fixtures.step("llama_tp2").resolve("actor/iter_0000010");
        Random rnd = new Random(12);
        for (int i = 0; i < MUTANTS / 4; i++) {
            Path it = tmp.resolve("iter_" + i);
            for (String rank : new String[]{"mp_rank_00", "mp_rank_01"}) {
                Files.createDirectories(it.resolve(rank));
                byte[] b = Files.readAllBytes(src.resolve(rank).resolve(MegatronCheckpoint.FILE));
                if (rank.equals("mp_rank_01")) {
                    for (int k = 0; k < 3; k++) {
                        b[rnd.nextInt(Math.min(b.length, 8192))] = (byte) rnd.nextInt(256);
                    }
                }
                Files.write(it.resolve(rank).resolve(MegatronCheckpoint.FILE), b);
            }
            Path hf = Fixtures.step("llama_tp2").resolve("actor/hf_model");
            expectCleanOutcome(it, () -> dev.ckptdiff.diff.DiffJob.compare(new dev.ckptdiff.diff.DiffJob.Pair(
                    new dev.ckptdiff.locate.Copy(dev.ckptdiff.locate.Copy.Kind.HF, hf, "HF"),
                    new dev.ckptdiff.locate.Copy(dev.ckptdiff.locate.Copy.Kind.MEGATRON, it, "Megatron")),
                    new dev.ckptdiff.diff.Differ(new dev.ckptdiff.diff.VectorEngine(), new dev.ckptdiff.diff.Differ.Options(
                            dev.ckptdiff.diff.Tolerance.DEFAULT, false, 2), x -> { }), x -> { }));
        }
        assertMutationsBite(MUTANTS / 4);
    }

    @Test
    void mutatedSafetensorsHeaders(@TempDir Path tmp) throws IOException {
        Path src = Fixtures.step("llama_tp2").resolve("actor/hf_model/model.safetensors");
        byte[] original = Files.readAllBytes(src);
        long headerLen = (original[0] & 0xffL) | (original[1] & 0xffL) << 8 | (original[2] & 0xffL) << 16;
        Random rnd = new Random(13);
        for (int i = 0; i < MUTANTS; i++) {
            byte[] m = original.clone();
            for (int k = 0; k < 1 + rnd.nextInt(3); k++) {
                m[rnd.nextInt((int) Math.min(m.length, headerLen + 8))] = (byte) (rnd.nextBoolean()
                        ? "0123456789,:[]{}\"".charAt(rnd.nextInt(17)) : rnd.nextInt(256));
            }
            Path f = tmp.resolve("m" + i + ".safetensors");
            Files.write(f, m);
            expectCleanOutcome(f, () -> SafetensorsFile.open(f).close());
            Files.delete(f);
        }
        assertMutationsBite(MUTANTS);
    }

    private void expectCleanOutcome(Path f, Runnable read) {
        assertTimeoutPreemptively(Duration.ofSeconds(2), () -> {
            try {
                read.run();
            } catch (BadInputException expected) {
                rejected++;
                if (expected.getMessage().contains("\n")) {
                    fail("multi-line message for " + f + ": " + expected.getMessage());
                }
            } catch (RuntimeException | Error e) {
                fail(f + ": " + e.getClass().getName() + ": " + e.getMessage(), e);
            }
        }, () -> "hang on " + f);
    }

    private static int indexOf(byte[] h, byte[] n) {
        outer:
        for (int i = 0; i + n.length <= h.length; i++) {
            for (int j = 0; j < n.length; j++) {
                if (h[i + j] != n[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static int lastIndexOf(byte[] h, byte[] n) {
        int last = -1;
        for (int i = indexOf(h, n); i >= 0; ) {
            last = i;
            int next = indexOf(java.util.Arrays.copyOfRange(h, i + 1, h.length), n);
            i = next < 0 ? -1 : i + 1 + next;
        }
        return last;
    }
}
