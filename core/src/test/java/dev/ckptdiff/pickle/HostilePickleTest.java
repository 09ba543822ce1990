package dev.ckptdiff.pickle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import dev.ckptdiff.Fixtures;
import dev.ckptdiff.inspect.Inspector;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.Printable;
import dev.ckptdiff.torch.TorchFile;
import dev.ckptdiff.torch.TorchTensor;
import dev.ckptdiff.zip.ZipArchive;

/** The reader's side of the hostile pickle corpus (testdata/hostile/gen_pickle.py), value by value. */
@org.junit.jupiter.api.Timeout(30) // a regression here is a hang (40^12 lines), not a slow test
class HostilePickleTest {
    private static Path file(String name) {
        return Fixtures.path("hostile/pickle/" + name);
    }

    @Test
    void repeatedKeysKeepTheirPlaceAndTakeTheLastValueAsPythonDoes() {
        try (TorchFile tf = TorchFile.open(file("dup_equal_keys.pt"))) {
            Py.Dict d = assertInstanceOf(Py.Dict.class, tf.root());
            assertEquals(3, d.size()); // {1: 'c', (1, (2, 'z')): 'e', 'x': 'f'} as torch.load gives it
            assertEquals(new Py.Int(1), d.keys.get(0)); // the first key object stays, as in Python
            assertEquals(new Py.Str("c"), d.values.get(0));
            assertEquals(new Py.Str("e"), d.values.get(1));
            assertEquals(new Py.Str("f"), d.get("x"));
            assertEquals(List.of(new Py.Float(1.0), new Py.Bool(true)), d.duplicateKeys().subList(0, 2));
            assertEquals(3, d.duplicateKeys().size());
            assertEquals(3, tf.duplicateKeys().size());
        }
        try (TorchFile tf = TorchFile.open(file("dup_dict_opcode.pt"))) {
            Py.Dict d = assertInstanceOf(Py.Dict.class, tf.root());
            TorchTensor w = (TorchTensor) assertInstanceOf(Py.Domain.class, d.get("w")).value();
            assertEquals("1", w.storage().key()); // the second 'w', stored as data/1
            assertEquals(List.of("top level -> 'w'"), tf.duplicateKeys());
        }
        try (TorchFile tf = TorchFile.open(file("mg_dup_last_real/iter_0000001/mp_rank_00/model_optim_rng.pt"))) {
            assertEquals(List.of("model -> 'decoder.layers.0.mlp.linear_fc1.weight'"), tf.duplicateKeys());
        }
    }

    @Test
    void sharedListsAreRenderedOnceAndWithinTheBudget() {
        try (TorchFile tf = TorchFile.open(file("dag_lists.pt"))) {
            // 40 references per level, 12 levels: expanded, that is 40^12 lines
            List<String> lines = new PyTree(100, 40, String::valueOf).lines(tf.root());
            assertTrue(lines.size() < 1000, lines.size() + " lines");
            assertTrue(lines.stream().anyMatch(l -> l.strip().equals("[1]: <same as dag[0]>")), String.join("\n", lines));
            JsonNode json = new PyTree(100, 40, String::valueOf).json(tf.root());
            assertEquals("dag[0]", json.at("/dag/1/$ref").asText());
            List<String> capped = new PyTree(100, 40, 50, String::valueOf).lines(tf.root());
            assertEquals(51, capped.size());
            assertTrue(capped.getLast().startsWith("... output stops here: 50 lines"), capped.getLast());
        }
        try (TorchFile tf = TorchFile.open(file("cycle.pt"))) {
            assertEquals("<cycle>", new PyTree(100, 40, String::valueOf).json(tf.root()).at("/loop/0").asText());
        }
    }

    @Test
    void hugeIntegersAreKeptBySize() {
        try (TorchFile tf = TorchFile.open(file("long4_huge.pt"))) {
            Py.HugeInt n = assertInstanceOf(Py.HugeInt.class, ((Py.Dict) tf.root()).get("n"));
            assertEquals(8L * (100_000 - 1) + 1, n.bits());
        }
        try (TorchFile tf = TorchFile.open(file("int_text_ok.pt"))) { // 4,300 digits: CPython's limit, still read
            Py.BigInt n = assertInstanceOf(Py.BigInt.class, ((Py.Dict) tf.root()).get("n"));
            assertEquals("1".repeat(4300), n.value().toString());
        }
    }

    @Test
    void expandedViewsAreMarkedAndTheHugeOnesRefused() {
        try (TorchFile tf = TorchFile.open(file("expanded.pt"))) {
            var tensors = Inspector.tensorsIn(tf.root());
            TorchTensor small = tensors.get("small");
            TorchTensor huge = tensors.get("huge");
            assertTrue(small.expanded() && huge.expanded());
            assertFalse(small.tooExpanded());
            assertEquals(12, small.named("small", "f").numel());
            assertEquals(1L << 62, huge.numel());
            BadInputException e = assertThrows(BadInputException.class, () -> huge.named("huge", "f"));
            assertTrue(e.getMessage().contains("expanded.pt: huge: expanded view: 4611686018427387904 elements over 2"
                    + " bytes of storage; not supported"), e.getMessage());
        }
    }

    @Test
    void deflatedStoragesAreInflatedOnlyWhenRead() {
        long before = ZipArchive.inflatedBytes();
        try (TorchFile tf = TorchFile.open(file("deflate_bomb.pt"))) {
            // only the (deflated) pickle is inflated; the 300 MB storage waits until its data is read
            assertTrue(ZipArchive.inflatedBytes() - before < 4096, ZipArchive.inflatedBytes() - before + " bytes");
            TorchTensor w = Inspector.tensorsIn(tf.root()).get("w");
            BadInputException e = assertThrows(BadInputException.class, () -> w.named("w", "f"));
            assertTrue(e.getMessage().contains("over the bound of 268435456 bytes"), e.getMessage());
        }
        assertEquals(before, ZipArchive.inflatedBytes());
        try (TorchFile tf = TorchFile.open(file("deflate_small.pt"))) {
            TorchTensor w = Inspector.tensorsIn(tf.root()).get("w");
            assertEquals(2.0, w.named("w", "f").get(1));
        }
        assertEquals(before, ZipArchive.inflatedBytes());
    }

    @Test
    void controlCharactersAreKeptButPrintedEscaped() {
        try (TorchFile tf = TorchFile.open(file("control_chars.pt"))) {
            Py.Dict d = (Py.Dict) tf.root();
            assertEquals("a\0b\r\u001b[2Jevil", ((Py.Str) d.keys.getFirst()).value());
            String text = String.join("\n", new PyTree(10, 40, String::valueOf).lines(d));
            assertTrue(text.contains("a\\x00b\\r\\x1b[2Jevil") && text.contains("nul\\x00key"), text);
            assertFalse(text.contains("\u001b") || text.contains("\r") || text.contains("\0"), text);
        }
        assertEquals("tab\\tdel\\x7fcsi\\x9b", Printable.escape("tab\tdel\u007fcsi\u009b"));
    }
}
