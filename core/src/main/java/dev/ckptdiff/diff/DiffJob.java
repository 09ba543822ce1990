package dev.ckptdiff.diff;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.hf.HfCheckpoint;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.locate.Copy;
import dev.ckptdiff.locate.Locator;
import dev.ckptdiff.mapping.Architecture;
import dev.ckptdiff.mapping.Architectures;
import dev.ckptdiff.mapping.HfKeyLayout;
import dev.ckptdiff.megatron.MegatronCheckpoint;
import dev.ckptdiff.megatron.RankShard;
import dev.ckptdiff.torchdist.TorchDistCheckpoint;
import dev.ckptdiff.torchdist.TorchDistViews;

/**
 * The main job: find the copies the user means, open them, build both views and compare. One path
 * pairs each role's HF copy with its Megatron copy; two paths pair copy with copy.
 */
public final class DiffJob {
    private DiffJob() {
    }

    public record Pair(Copy a, Copy b) {
    }

    /** Which copies to compare, from one or two user paths. */
    public static List<Pair> pairs(List<Path> inputs) {
        if (inputs.size() == 1) {
            List<Pair> out = new ArrayList<>();
            List<Locator.Role> roles = Locator.roles(inputs.getFirst());
            for (Locator.Role r : roles) {
                Copy hf = r.find(Copy.Kind.HF);
                Copy meg = r.find(Copy.Kind.MEGATRON);
                if (hf != null && meg != null) {
                    out.add(new Pair(hf, meg));
                }
            }
            if (out.isEmpty()) {
                throw new BadInputException(inputs.getFirst() + ": found " + roles.stream().flatMap(r -> r.copies().stream())
                        .map(Copy::label).toList() + " but no HF copy beside a Megatron copy to compare;"
                        + " name two paths: ckpt-diff A B");
            }
            return out;
        }
        if (inputs.size() != 2) {
            throw new BadInputException("expected one step folder or two checkpoints, got " + inputs.size() + " paths");
        }
        List<Copy> a = Locator.roles(inputs.get(0)).getFirst().copies();
        List<Copy> b = Locator.roles(inputs.get(1)).getFirst().copies();
        List<Pair> out = new ArrayList<>();
        if (a.size() == 1 && b.size() == 1) {
            out.add(new Pair(a.getFirst(), b.getFirst()));
            return out;
        }
        for (Copy.Kind k : Copy.Kind.values()) {
            Copy x = a.stream().filter(c -> c.kind() == k).findFirst().orElse(null);
            Copy y = b.stream().filter(c -> c.kind() == k).findFirst().orElse(null);
            if (x != null && y != null) {
                out.add(new Pair(x, y));
            }
        }
        if (out.isEmpty()) {
            out.add(new Pair(a.getFirst(), b.getFirst()));
        }
        return out;
    }

    /** A pair opened and mapped to HF names, ready to compare; closing it unmaps both copies. */
    public record Prepared(Pair pair, ModelView a, ModelView b, String architecture, List<String> notes,
                           Timings timings, List<AutoCloseable> open) implements AutoCloseable {
        @Override
        public void close() {
            for (AutoCloseable c : open) {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // closing read-only mappings cannot lose data
                }
            }
        }
    }

    /** Opens both copies (in parallel) and builds their views. */
    public static Prepared prepare(Pair pair) {
        List<AutoCloseable> open = new ArrayList<>();
        Timings timings = new Timings();
        try {
            // This thread takes a copy of shard files: its parallel stream then also gets the pool's worker once
            // that worker has opened the other copy (an HF folder, read in one go).
            boolean bHere = pair.a().kind() == Copy.Kind.HF && pair.b().kind() != Copy.Kind.HF;
            Both<AutoCloseable> opened = both(() -> openCopy(pair.a()), () -> openCopy(pair.b()), bHere);
            for (AutoCloseable c : java.util.Arrays.asList(opened.a(), opened.b())) {
                if (c != null) {
                    track(open, c); // closed below if the other failed
                }
            }
            opened.rethrow();
            AutoCloseable first = opened.a();
            AutoCloseable second = opened.b();
            HfCheckpoint hfA = first instanceof HfCheckpoint h ? h : null;
            HfCheckpoint hfB = second instanceof HfCheckpoint h ? h : null;
            MegatronCheckpoint mA = first instanceof MegatronCheckpoint m ? m : null;
            MegatronCheckpoint mB = second instanceof MegatronCheckpoint m ? m : null;
            TorchDistCheckpoint dA = first instanceof TorchDistCheckpoint d ? d : null;
            TorchDistCheckpoint dB = second instanceof TorchDistCheckpoint d ? d : null;
            timings.mark("open");
            JsonNode config = null;
            if (hfA != null && hfA.config().size() > 0) {
                config = hfA.config();
            } else if (hfB != null && hfB.config().size() > 0) {
                config = hfB.config();
            }
            Architecture arch = null;
            if (hfA == null || hfB == null) {
                arch = config != null ? Architectures.fromConfig(config, (hfA != null ? hfA : hfB).dir() + "/config.json")
                        : mA != null || mB != null ? Architectures.fromMegatron(mA != null ? mA : mB)
                        : Architectures.fromArgs(dA != null ? dA.args() : dB.args());
            }
            // Both views at once: the HF one is quick, but two Megatron copies each take a core's worth of work.
            Architecture table = arch;
            JsonNode cfg = config;
            Both<ModelView> views = both(() -> view(first, table, cfg, "A"), () -> view(second, table, cfg, "B"), true);
            views.rethrow();
            ModelView va = views.a();
            ModelView vb = views.b();
            if ((arch != null && Architectures.isVision(arch)) || HfKeyLayout.hasVision(va.tensors().keySet())
                    || HfKeyLayout.hasVision(vb.tensors().keySet())) {
                // Both key layouts name the same tensors: report them in the (first) HF copy's own.
                HfKeyLayout layout = HfKeyLayout.of((hfA == null && hfB != null ? vb : va).tensors().keySet());
                va = va.inLayout(layout);
                vb = vb.inLayout(layout);
            }
            List<String> notes = new ArrayList<>();
            va.notes().forEach(n -> notes.add("A: " + n));
            vb.notes().forEach(n -> notes.add("B: " + n));
            for (MegatronCheckpoint m : java.util.Arrays.asList(mA, mB)) { // what torch.load reads, said aloud
                for (RankShard s : m == null ? List.<RankShard>of() : m.shards()) {
                    s.file().duplicateKeyWarnings().forEach(w -> notes.add((m == mA ? "A: " : "B: ") + w));
                }
            }
            if (mA != null) {
                notes.add("A: Megatron " + mA.iteration() + ", " + mA.layout().describe() + ", " + mA.shards().size() + " shards"
                        + (mA.experts().present() ? ", " + mA.experts().describe() : ""));
            }
            if (mB != null) {
                notes.add("B: Megatron " + mB.iteration() + ", " + mB.layout().describe() + ", " + mB.shards().size() + " shards"
                        + (mB.experts().present() ? ", " + mB.experts().describe() : ""));
            }
            for (TorchDistCheckpoint d : java.util.Arrays.asList(dA, dB)) {
                if (d != null) {
                    notes.add((d == dA ? "A" : "B") + ": Megatron torch_dist " + d.iteration() + ", "
                            + d.chunks().values().stream().mapToInt(List::size).sum() + " chunks in " + d.files().size()
                            + " .distcp files");
                }
            }
            va.problems().forEach(n -> notes.add("A: problem: " + n));
            vb.problems().forEach(n -> notes.add("B: problem: " + n));
            timings.mark("map names, merge shards");
            String name = arch != null ? arch.name() : config == null ? "" : config.path("architectures").path(0).asText("");
            return new Prepared(pair, va, vb, name, notes, timings, open);
        } catch (RuntimeException e) {
            new Prepared(pair, null, null, "", List.of(), timings, open).close();
            throw e;
        }
    }

    /** Compares a prepared pair and closes it. */
    public static Comparison compare(Prepared p, Differ differ, LongConsumer totalBytes) {
        try (p) {
            Differ.Outcome outcome = differ.compare(p.a(), p.b(), totalBytes);
            p.timings().mark("compare");
            return new Comparison(p.pair().a().label(), p.pair().a().path(), p.pair().b().label(), p.pair().b().path(),
                    p.architecture(), outcome, p.notes(), problems(p), p.timings());
        }
    }

    private static List<String> problems(Prepared p) {
        List<String> out = new ArrayList<>();
        p.a().problems().forEach(x -> out.add(p.a().label() + ": " + x));
        p.b().problems().forEach(x -> out.add(p.b().label() + ": " + x));
        return out;
    }

    public static Comparison compare(Pair pair, Differ differ, LongConsumer totalBytes) {
        return compare(prepare(pair), differ, totalBytes);
    }

    /** What two parallel tasks gave, or the error each raised. */
    private record Both<T>(T a, T b, RuntimeException failedA, RuntimeException failedB) {
        /** A's error first, as A is named first. */
        void rethrow() {
            if (failedA != null) {
                throw failedA;
            }
            if (failedB != null) {
                throw failedB;
            }
        }
    }

    /** Runs {@code a} and {@code b} at once: B on this thread when {@code bHere}, else A; the other on the pool. */
    private static <T> Both<T> both(Supplier<T> a, Supplier<T> b, boolean bHere) {
        CompletableFuture<T> pooled = CompletableFuture.supplyAsync(bHere ? a : b);
        T here = null;
        RuntimeException hereFailed = null;
        try {
            here = (bHere ? b : a).get();
        } catch (RuntimeException e) {
            hereFailed = e;
        }
        T there = null;
        RuntimeException thereFailed = null;
        try {
            there = pooled.join();
        } catch (CompletionException e) {
            thereFailed = e.getCause() instanceof RuntimeException re ? re : e;
        }
        return bHere ? new Both<>(there, here, thereFailed, hereFailed) : new Both<>(here, there, hereFailed, thereFailed);
    }

    private static AutoCloseable openCopy(Copy c) {
        if (c.kind() == Copy.Kind.HF) {
            return HfCheckpoint.open(c.path());
        }
        return TorchDistCheckpoint.isTorchDist(c.path()) ? TorchDistCheckpoint.open(c.path()) : MegatronCheckpoint.open(c.path());
    }

    private static ModelView view(AutoCloseable copy, Architecture arch, JsonNode config, String label) {
        return switch (copy) {
            case HfCheckpoint h -> Views.hf(h, label);
            case MegatronCheckpoint m -> Views.megatron(m, arch, config, label);
            case TorchDistCheckpoint d -> TorchDistViews.view(d, arch, config, label);
            default -> throw new IllegalStateException("not a checkpoint: " + copy);
        };
    }

    private static <T extends AutoCloseable> T track(List<AutoCloseable> open, T t) {
        open.add(t);
        return t;
    }
}
