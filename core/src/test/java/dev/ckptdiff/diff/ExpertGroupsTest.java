package dev.ckptdiff.diff;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

class ExpertGroupsTest {
    @Test
    void expertNumberAndFamilyOfHfNames() {
        assertEquals(127, ExpertGroups.expertOf("model.layers.47.mlp.experts.127.down_proj.weight"));
        assertEquals("model.layers.47.mlp.experts.*.down_proj.weight",
                ExpertGroups.family("model.layers.47.mlp.experts.127.down_proj.weight"));
        assertEquals(-1, ExpertGroups.expertOf("model.layers.47.mlp.shared_expert.down_proj.weight"));
        assertEquals(-1, ExpertGroups.expertOf("model.layers.3.mlp.experts.gate_up_proj"));
        assertEquals("model.layers.3.mlp.gate.weight", ExpertGroups.family("model.layers.3.mlp.gate.weight"));
    }

    /** The rules as the regular expression the hand-written reader replaced states them, checked on awkward names. */
    @Test
    void agreesWithTheRegularExpressionOnEdgeCases() {
        Pattern expert = Pattern.compile("(.*\\.experts\\.)(\\d{1,6})(\\..+)");
        List<String> names = List.of("a.experts.1.w", "a.experts.1234567.w", "a.experts.123456.w", "a.experts.1.",
                "a.experts.1", "a.experts..w", ".experts.5.x", "experts.5.x", "a.experts.2.b.experts.3.c",
                "a.experts.2.b.experts.x.c", "a.experts.2.b.experts.3", "a.experts.007.w", "a\n.experts.1.w",
                "a.experts.1.w\nx", "a.experts.1.\u2028", "a.experts.1.b.experts.2.c\u0085", "a.experts.\u0661.w",
                "a.experts.1.w (replica)", "", "a.experts.");
        for (String n : names) {
            Matcher m = expert.matcher(n);
            assertEquals(m.matches() ? Integer.parseInt(m.group(2)) : -1, ExpertGroups.expertOf(n), n);
            m = expert.matcher(n);
            assertEquals(m.matches() ? m.group(1) + "*" + m.group(3) : n, ExpertGroups.family(n), n);
        }
    }
}
