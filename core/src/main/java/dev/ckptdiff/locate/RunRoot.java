package dev.ckptdiff.locate;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import dev.ckptdiff.io.BadInputException;

/**
 * A training run's checkpoint root ({@code checkpoints/} holding {@code global_step_10/}, {@code global_step_20/}, …)
 * and whether each step looks completely written. A step being saved while we look is normal during training: it is
 * reported as incomplete, never read half-way.
 */
public final class RunRoot {
    private static final Pattern STEP = Pattern.compile("global_step_(\\d{1,18})");
    private static final String TRACKER = "latest_checkpointed_iteration.txt";

    private RunRoot() {
    }

    /** One step folder and its number. */
    public record Step(long number, Path dir) {
        public String name() {
            return dir.getFileName().toString();
        }
    }

    /** The {@code global_step_N} folders directly under {@code dir}, newest first; empty if it is not a run root. */
    public static List<Step> steps(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<Step> steps = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Matcher m = STEP.matcher(p.getFileName().toString());
                if (m.matches() && Files.isDirectory(p)) {
                    steps.add(new Step(Long.parseLong(m.group(1)), p));
                }
            }
        } catch (IOException e) {
            throw BadInputException.in(dir, "cannot be listed: " + e.getMessage());
        }
        steps.sort(Comparator.comparingLong(Step::number).reversed());
        return steps;
    }

    /**
     * Why a step is not completely written yet, if it visibly is not: a Megatron folder without its tracker file
     * (Megatron writes it after every rank has saved), a rank folder without its file, an HF folder without
     * config.json or without weights, a torch_dist folder without its metadata.json.
     */
    public static Optional<String> incomplete(Path step) {
        List<Path> roles = new ArrayList<>();
        roles.add(step);
        roles.addAll(dirs(step));
        for (Path role : roles) {
            List<Path> iters = dirs(role).stream().filter(d -> d.getFileName().toString().startsWith("iter_")).toList();
            if (!iters.isEmpty() && !Files.exists(role.resolve(TRACKER))) {
                return Optional.of(rel(step, role.resolve(TRACKER)) + " is missing (Megatron writes it last)");
            }
            for (Path iter : iters) {
                if (Files.exists(iter.resolve(".metadata")) && !Files.exists(iter.resolve("metadata.json"))) {
                    return Optional.of(rel(step, iter.resolve("metadata.json")) + " is missing (Megatron-Core writes it last)");
                }
                for (Path rank : dirs(iter)) {
                    String n = rank.getFileName().toString();
                    if (n.startsWith("mp_rank_") && !Files.exists(rank.resolve("model_optim_rng.pt"))) {
                        return Optional.of(rel(step, rank) + " has no model_optim_rng.pt");
                    }
                }
            }
            for (String hf : Locator.HF_DIR_NAMES) {
                Path h = role.resolve(hf);
                if (!Files.isDirectory(h)) {
                    continue;
                }
                if (!Files.exists(h.resolve("config.json"))) {
                    return Optional.of(rel(step, h) + " has no config.json");
                }
                boolean weights;
                try (Stream<Path> s = Files.list(h)) {
                    weights = s.anyMatch(p -> p.getFileName().toString().endsWith(".safetensors"));
                } catch (IOException e) {
                    return Optional.of(rel(step, h) + " cannot be listed: " + e.getMessage());
                }
                if (!weights) {
                    return Optional.of(rel(step, h) + " has no .safetensors file");
                }
            }
        }
        return Optional.empty();
    }

    private static String rel(Path step, Path p) {
        return step.getFileName() + "/" + step.relativize(p);
    }

    private static List<Path> dirs(Path p) {
        if (!Files.isDirectory(p)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(p)) {
            return s.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
