package dev.ckptdiff.megatron;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;

/**
 * The {@code args} a Megatron checkpoint was saved with: an argparse Namespace or an OmegaConf config.
 * Integer settings are read exactly: Megatron could only have run with a Python int there, so a
 * float, a bool, a string or a value outside {@link #BOUNDS} is refused, never rounded or cut to 32 bits.
 */
public record MegatronArgs(Py value, Path source) {
    /** Inclusive bounds no real run exceeds; an absent or None value means "not set". */
    record Bounds(long min, long max) {
    }

    private static final Bounds PARALLEL = new Bounds(1, 65_536);
    private static final Bounds DIM = new Bounds(1, 1L << 24);
    private static final Bounds HEADS = new Bounds(1, 65_536);
    private static final Bounds VOCAB = new Bounds(1, 1L << 31);

    static final Map<String, Bounds> BOUNDS = Map.ofEntries(
            Map.entry("tensor_model_parallel_size", PARALLEL),
            Map.entry("pipeline_model_parallel_size", PARALLEL),
            Map.entry("virtual_pipeline_model_parallel_size", PARALLEL),
            Map.entry("expert_model_parallel_size", PARALLEL),
            Map.entry("expert_tensor_parallel_size", PARALLEL),
            Map.entry("context_parallel_size", PARALLEL),
            Map.entry("num_layers", new Bounds(0, 100_000)), // 0: saved by tools that number layers by keys only
            Map.entry("hidden_size", DIM),
            Map.entry("ffn_hidden_size", DIM),
            Map.entry("num_attention_heads", HEADS),
            Map.entry("num_query_groups", HEADS),
            Map.entry("kv_channels", HEADS),
            Map.entry("padded_vocab_size", VOCAB),
            Map.entry("vocab_size", VOCAB),
            Map.entry("max_position_embeddings", new Bounds(1, 1L << 40)));

    /** No args at all (shards saved without them). */
    public static MegatronArgs none(Path source) {
        return new MegatronArgs(Py.None.INSTANCE, source);
    }

    /** Args whose integer settings have all been checked, so later reads cannot fail half-way. */
    public static MegatronArgs checked(Py value, Path source) {
        MegatronArgs a = new MegatronArgs(value, source);
        BOUNDS.keySet().forEach(a::getLong);
        return a;
    }

    public boolean isPresent() {
        return !(value instanceof Py.None);
    }

    /**
     * An integer setting, or empty when absent or None.
     *
     * @throws BadInputException when the value is not a Python int or lies outside its bounds
     */
    public OptionalLong getLong(String name) {
        Optional<Py> found = PyValues.find(value, name);
        if (found.isEmpty() || found.get() instanceof Py.None) {
            return OptionalLong.empty();
        }
        Py v = found.get();
        Bounds b = BOUNDS.getOrDefault(name, new Bounds(Long.MIN_VALUE, Long.MAX_VALUE));
        if (!(v instanceof Py.Int(long x))) {
            throw refused(name, v, b);
        }
        if (x < b.min() || x > b.max()) {
            throw refused(name, v, b);
        }
        return OptionalLong.of(x);
    }

    public long getLong(String name, long fallback) {
        return getLong(name).orElse(fallback);
    }

    private BadInputException refused(String name, Py v, Bounds b) {
        String expected = b.min() == Long.MIN_VALUE ? "an integer" : "an integer in " + b.min() + ".." + b.max();
        return BadInputException.in(source, "args." + name + " is " + shown(v) + ", expected " + expected);
    }

    /** A value as Python would print it, kept short: a huge int by its size, a string truncated. */
    private static String shown(Py v) {
        return switch (v) {
            case Py.Int(long x) -> Long.toString(x);
            case Py.BigInt(var x) -> "an integer of " + x.bitLength() + " bits";
            case Py.Float(double d) -> d + " (a float)";
            case Py.Bool(boolean b) -> (b ? "True" : "False") + " (a bool)";
            case Py.Str(String s) -> "'" + (s.length() > 40 ? s.substring(0, 40) + "..." : s)
                    .replaceAll("\\p{Cntrl}", "?") + "' (a string)";
            default -> "a " + v.getClass().getSimpleName();
        };
    }

    public double getDouble(String name, double fallback) {
        return PyValues.find(value, name).map(v -> switch (v) {
            case Py.Float(double d) -> d;
            case Py.Int(long l) -> (double) l;
            default -> fallback;
        }).orElse(fallback);
    }

    public Optional<Boolean> getBool(String name) {
        return PyValues.find(value, name).flatMap(PyValues::asBool);
    }

    public Optional<String> getString(String name) {
        return PyValues.find(value, name).flatMap(PyValues::asString);
    }
}
