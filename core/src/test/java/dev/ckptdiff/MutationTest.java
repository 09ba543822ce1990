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

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.safetensors.SafetensorsFile;
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
            expectCleanOutcome(f, () -> {
                try (TorchFile tf = TorchFile.open(f)) {
                    tf.root();
                }
            });
            Files.delete(f);
        }
        assertMutationsBite(MUTANTS);
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
