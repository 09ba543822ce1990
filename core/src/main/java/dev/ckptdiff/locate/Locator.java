package dev.ckptdiff.locate;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.SideFile;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.torchdist.TorchDistCheckpoint;

/**
 * Works out what a user pointed at: a {@code global_step_N} folder (roles under it, {@code actor}
 * first), a role folder holding an HF copy and a Megatron copy, an HF folder, a Megatron root or
 * iteration folder, or a single file.
 */
public final class Locator {
    public static final List<String> HF_DIR_NAMES = List.of("hf_model", "hf_checkpoint", "huggingface");

    private Locator() {
    }

    /** A role folder's copies (e.g. actor/: its HF folder and its Megatron checkpoint). */
    public record Role(String name, Path dir, List<Copy> copies) {
        public Copy find(Copy.Kind kind) {
            return copies.stream().filter(c -> c.kind() == kind).findFirst().orElse(null);
        }
    }

    /** Every copy that {@code path} holds, grouped by role. */
    public static List<Role> roles(Path path) {
        if (!Files.exists(path)) {
            throw BadInputException.in(path, "does not exist");
        }
        Path p = path.toAbsolutePath().normalize();
        List<Copy> own = copiesIn(p);
        if (!own.isEmpty()) {
            return List.of(new Role(p.getFileName() == null ? "." : p.getFileName().toString(), p, own));
        }
        List<Role> roles = new ArrayList<>();
        for (Path child : children(p)) {
            List<Copy> copies = copiesIn(child);
            if (!copies.isEmpty()) {
                roles.add(new Role(child.getFileName().toString(), child, copies));
            }
        }
        roles.sort((a, b) -> a.name().equals("actor") ? -1 : b.name().equals("actor") ? 1 : a.name().compareTo(b.name()));
        if (roles.isEmpty()) {
            throw BadInputException.in(p, "holds no checkpoint: expected an HF folder (config.json + *.safetensors),"
                    + " a Megatron folder (iter_*/mp_rank_*/model_optim_rng.pt or latest_checkpointed_iteration.txt),"
                    + " or a global_step_* / actor folder holding them");
        }
        return roles;
    }

    /** The copies directly at {@code p}: itself, or its HF and Megatron subfolders. */
    private static List<Copy> copiesIn(Path p) {
        List<Copy> out = new ArrayList<>();
        if (Files.isRegularFile(p)) {
            String n = p.getFileName().toString();
            if (n.endsWith(".safetensors")) {
                out.add(new Copy(Copy.Kind.HF, p, n));
            } else if (n.endsWith(".pt") || n.endsWith(".pth") || n.endsWith(".bin")) {
                out.add(new Copy(Copy.Kind.MEGATRON, p, n));
            } else {
                throw BadInputException.in(p, "is neither a .safetensors nor a torch.save (.pt) file");
            }
            return out;
        }
        if (!Files.isDirectory(p)) {
            if (Files.exists(p)) {
                SideFile.requireRegular(p); // a FIFO or device given as the input: say so
            }
            return out;
        }
        if (HfCheckpoint.isHf(p)) {
            out.add(new Copy(Copy.Kind.HF, p, "HF " + p.getFileName()));
            return out;
        }
        if (MegatronCheckpoint.isIterationDir(p) || TorchDistCheckpoint.isTorchDist(p)) {
            out.add(new Copy(Copy.Kind.MEGATRON, p, "Megatron " + p.getFileName()));
            return out;
        }
        for (String name : HF_DIR_NAMES) {
            Path hf = p.resolve(name);
            if (Files.isDirectory(hf) && HfCheckpoint.isHf(hf)) {
                out.add(new Copy(Copy.Kind.HF, hf, "HF " + p.getFileName() + "/" + name));
                break;
            }
        }
        Path meg = megatronUnder(p);
        if (meg != null) {
            out.add(new Copy(Copy.Kind.MEGATRON, meg, "Megatron " + p.getFileName() + "/" + meg.getFileName()));
        }
        return out;
    }

    /** The Megatron checkpoint inside a role folder: its tracker file's iteration, or its only iter_*. */
    private static Path megatronUnder(Path p) {
        Path tracker = p.resolve("latest_checkpointed_iteration.txt");
        if (Files.exists(tracker) && !Files.isDirectory(tracker)) { // a FIFO here is refused when read
            return MegatronCheckpoint.iterationDir(p);
        }
        List<Path> iters = children(p).stream().filter(c -> {
            String n = c.getFileName().toString();
            return (n.startsWith("iter_") || n.equals("release"))
                    && (MegatronCheckpoint.isMegatron(c) || TorchDistCheckpoint.isTorchDist(c));
        }).toList();
        if (iters.size() > 1) {
            throw BadInputException.in(p, "holds " + iters.size() + " iterations and no latest_checkpointed_iteration.txt:"
                    + " name one of " + iters.stream().map(x -> x.getFileName().toString()).toList());
        }
        return iters.isEmpty() ? null : iters.getFirst();
    }

    private static List<Path> children(Path p) {
        if (!Files.isDirectory(p)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(p)) {
            return s.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw BadInputException.in(p, "cannot be listed: " + e.getMessage());
        }
    }
}
