package dev.ckptdiff.convert;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;

import dev.ckptdiff.check.ExpectedTensors;
import dev.ckptdiff.check.ModelSpec;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.tensor.Shapes;

/**
 * The shapes a converted model must have, from the config that goes with it: a converter only moves
 * bytes, so a tensor whose shape does not follow from config.json (or args) would be written,
 * read back identical, and called verified while no framework could load it.
 */
final class ConfigShapes {
    private ConfigShapes() {
    }

    /**
     * Refuses when a tensor to be written has a shape {@code config} does not imply, or when a tensor
     * it implies is missing. {@code source} names where the config came from, for the message.
     */
    static void refuseMismatches(Map<String, long[]> shapes, JsonNode config, String source) {
        ModelSpec spec = ModelSpec.of(config, source);
        long layers = spec.text().layers();
        if (layers > shapes.size() || (spec.moe() != null && spec.moe().experts().value() > shapes.size())) {
            // checked before the expected tensors are listed: a config can claim any number of them
            throw new BadInputException(source + ": says " + layers + " layers"
                    + (spec.moe() != null ? " of " + spec.moe().experts().value() + " experts" : "")
                    + ", but the weights hold only " + shapes.size() + " tensors");
        }
        Map<String, ExpectedTensors.Expected> expected = ExpectedTensors.conventions(spec).stream()
                .map(c -> ExpectedTensors.of(spec, c))
                .max(Comparator.comparingLong(e -> e.keySet().stream().filter(shapes::containsKey).count()))
                .orElseThrow();
        for (ExpectedTensors.Expected e : expected.values()) {
            long[] actual = shapes.get(e.name());
            if (actual == null) {
                throw new BadInputException(e.name() + ": " + source + " implies this tensor with shape "
                        + Shapes.toString(e.shape()) + ", but the source has none; refusing to write an incomplete model");
            }
            if (!Arrays.equals(actual, e.shape())) {
                throw new BadInputException(e.name() + ": shape " + Shapes.toString(actual) + " found, "
                        + Shapes.toString(e.shape()) + " expected from " + source + " (" + why(e) + "); refusing to"
                        + " write it");
            }
        }
    }

    private static String why(ExpectedTensors.Expected e) {
        return String.join(", ", Arrays.stream(e.dims()).map(ModelSpec.Dim::why).distinct().toList());
    }
}
