package dev.ckptdiff.shard;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.ckptdiff.diff.Assembled;
import dev.ckptdiff.diff.Check;
import dev.ckptdiff.diff.DiffJob;
import dev.ckptdiff.diff.ModelView;
import dev.ckptdiff.diff.Tolerance;
import dev.ckptdiff.tensor.Shapes;

/**
 * Which tensors and checks of a prepared pair one shard compares. Units are balanced by bytes read (largest first,
 * each to the lightest shard so far, ties by name and by shard number), so every shard of the same inputs computes
 * the same plan without talking to the others.
 */
public final class ShardPlan {
    private ShardPlan() {
    }

    /** The part of a pair one shard compares, and the positions its checks have in the whole pair's check list. */
    public record Part(DiffJob.Prepared prepared, List<Integer> checkOrder) {
    }

    /**
     * Siblings a wrong mapping swaps are compared crosswise when both differ ("looks swapped"): they must land in one
     * shard, or the merged report would lack the note an unsharded run gives.
     */
    static String unit(String tensor) {
        return tensor.replace("self_attn.v_proj.", "self_attn.k_proj.").replace("mlp.up_proj.", "mlp.gate_proj.");
    }

    public static Part restrict(DiffJob.Prepared p, Shard shard) {
        ModelView a = p.a();
        ModelView b = p.b();
        Map<String, Long> bytes = new HashMap<>();
        Set<String> names = new LinkedHashSet<>(a.tensors().keySet());
        names.addAll(b.tensors().keySet());
        for (String n : names) {
            bytes.merge(unit(n), bytes(a.tensors().get(n)) + bytes(b.tensors().get(n)), Long::sum);
        }
        List<Check> checks = new ArrayList<>(a.checks());
        checks.addAll(b.checks());
        for (int i = 0; i < checks.size(); i++) {
            bytes.put(checkUnit(i), bytes(checks.get(i).expected()) + bytes(checks.get(i).actual()));
        }
        Map<String, Integer> owner = assign(bytes, shard.count());
        List<Integer> order = new ArrayList<>();
        List<Check> mineA = new ArrayList<>();
        List<Check> mineB = new ArrayList<>();
        for (int i = 0; i < checks.size(); i++) {
            if (owner.get(checkUnit(i)) == shard.index()) {
                order.add(i);
                (i < a.checks().size() ? mineA : mineB).add(checks.get(i));
            }
        }
        ModelView fa = new ModelView(a.label(), a.kind(), only(a.tensors(), owner, shard), mineA, a.notes(), a.problems());
        ModelView fb = new ModelView(b.label(), b.kind(), only(b.tensors(), owner, shard), mineB, b.notes(), b.problems());
        return new Part(new DiffJob.Prepared(p.pair(), fa, fb, p.architecture(), p.notes(), p.timings(), p.open()), order);
    }

    private static String checkUnit(int i) {
        return "\u0000check " + i; // cannot collide with a tensor name from a file: those never hold NUL
    }

    static Map<String, Integer> assign(Map<String, Long> bytes, int n) {
        List<Map.Entry<String, Long>> units = new ArrayList<>(bytes.entrySet());
        units.sort(Map.Entry.<String, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()));
        long[] load = new long[n];
        Map<String, Integer> owner = new HashMap<>();
        for (Map.Entry<String, Long> u : units) {
            int best = 0;
            for (int i = 1; i < n; i++) {
                if (load[i] < load[best]) {
                    best = i;
                }
            }
            load[best] += Math.max(1, u.getValue());
            owner.put(u.getKey(), best);
        }
        return owner;
    }

    private static Map<String, Assembled> only(Map<String, Assembled> all, Map<String, Integer> owner, Shard s) {
        Map<String, Assembled> out = new LinkedHashMap<>();
        all.forEach((k, v) -> {
            if (owner.get(unit(k)) == s.index()) {
                out.put(k, v);
            }
        });
        return out;
    }

    private static long bytes(Assembled x) {
        return x == null ? 0 : Shapes.numel(x.shape()) * x.dtype().size();
    }

    /**
     * What every shard of one run must agree on: the pairs, every tensor's name, dtype and shape on both sides, the
     * checks, and the options that decide verdicts. Parts with different fingerprints are parts of different runs.
     */
    public static String fingerprint(List<DiffJob.Prepared> all, Tolerance tol, boolean strictDtype, int count) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            StringBuilder sb = new StringBuilder();
            sb.append("tol ").append(tol.atol()).append(' ').append(tol.rtol()).append(" strict ").append(strictDtype)
                    .append(" shards ").append(count).append('\n');
            for (DiffJob.Prepared p : all) {
                sb.append("pair ").append(p.pair().a().path().toAbsolutePath()).append(" | ").append(p.pair().b().path().toAbsolutePath()).append('\n');
                for (ModelView v : List.of(p.a(), p.b())) {
                    v.tensors().entrySet().stream().sorted(Map.Entry.comparingByKey(Comparator.naturalOrder()))
                            .forEach(e -> sb.append(v.label()).append(' ').append(e.getKey()).append(' ')
                                    .append(e.getValue().dtypeString()).append(Shapes.toString(e.getValue().shape())).append('\n'));
                    v.checks().forEach(c -> sb.append("check ").append(c.name()).append('\n'));
                }
                md.update(sb.toString().getBytes(StandardCharsets.UTF_8));
                sb.setLength(0);
            }
            md.update(sb.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
