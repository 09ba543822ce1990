package dev.ckptdiff.megatron;

import java.util.Optional;
import java.util.OptionalLong;

import dev.ckptdiff.pickle.Py;
import dev.ckptdiff.pickle.PyValues;

/** The {@code args} a Megatron checkpoint was saved with: an argparse Namespace or an OmegaConf config. */
public record MegatronArgs(Py value) {

    public OptionalLong getLong(String name) {
        return PyValues.find(value, name).flatMap(PyValues::asLong)
                .map(OptionalLong::of).orElse(OptionalLong.empty());
    }

    public long getLong(String name, long fallback) {
        return getLong(name).orElse(fallback);
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
