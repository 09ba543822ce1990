package dev.ckptdiff.convert;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.diff.Assembled;
import dev.ckptdiff.diff.ModelView;
import dev.ckptdiff.diff.Piece;
import dev.ckptdiff.diff.NaturalOrder;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.io.OutputBytes;
import dev.ckptdiff.safetensors.SafetensorsWriter;
import dev.ckptdiff.tensor.DType;

/**
 * Writes a model view (typically merged Megatron shards) as an HF folder: safetensors, sharded with
 * {@code model.safetensors.index.json} above the size limit; padded vocabulary rows dropped; tied
 * models without {@code lm_head.weight}.
 */
public final class HfWriter {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private HfWriter() {
    }

    private record Item(SafetensorsWriter.Entry entry, Assembled src) {
    }

    /** The tensors to write, in HF name order, with the vocabulary cut to {@code vocab} rows. */
    static List<Item> plan(ModelView view, long vocab, DType dtype) {
        List<String> names = new ArrayList<>(view.tensors().keySet());
        NaturalOrder.sort(names);
        List<Item> items = new ArrayList<>();
        for (String n : names) {
            Assembled a = view.tensors().get(n);
            DType t = dtype != null ? dtype : a.dtype();
            items.add(new Item(new SafetensorsWriter.Entry(n, t, shape(n, a, vocab), null), a));
        }
        return items;
    }

    /** A tensor's shape in the output: as merged, with the vocabulary cut to {@code vocab} rows when positive. */
    private static long[] shape(String n, Assembled a, long vocab) {
        if (a.isUnmappedMegatronKey()) {
            throw new BadInputException(n + " has no HF name in the mapping table; refusing to write a partial model");
        }
        long[] shape = a.shape().clone();
        if (a.paddedRows() && vocab > 0) {
            if (vocab > shape[0]) {
                throw new BadInputException(n + " has " + shape[0] + " rows, fewer than vocab_size " + vocab);
            }
            shape[0] = vocab;
        }
        return shape;
    }

    /** The shape each tensor will have in the output, by HF name. */
    static Map<String, long[]> shapes(ModelView view, long vocab) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        view.tensors().forEach((n, a) -> shapes.put(n, shape(n, a, vocab)));
        return shapes;
    }

    /** The bytes the output's tensors take; refused when beyond a long (a shape no disk could hold). */
    public static long bytes(ModelView view, long vocab, DType dtype) {
        long n = 0;
        for (Item i : plan(view, vocab, dtype)) {
            n = OutputBytes.add(n, i.entry().bytes(), i.entry().name());
        }
        return n;
    }

    public static List<Path> write(ModelView view, long vocab, DType dtype, long maxShardBytes, Path dir) {
        List<Item> items = plan(view, vocab, dtype);
        List<List<Item>> shards = new ArrayList<>();
        long size = 0;
        for (Item i : items) {
            if (shards.isEmpty() || (size + i.entry().bytes() > maxShardBytes && !shards.getLast().isEmpty())) {
                shards.add(new ArrayList<>());
                size = 0;
            }
            shards.getLast().add(i);
            size += i.entry().bytes();
        }
        List<Path> files = new ArrayList<>();
        Map<String, String> weightMap = new LinkedHashMap<>();
        long total = 0;
        for (int k = 0; k < shards.size(); k++) {
            String name = shards.size() == 1 ? "model.safetensors"
                    : String.format("model-%05d-of-%05d.safetensors", k + 1, shards.size());
            Path file = dir.resolve(name);
            List<Item> shard = shards.get(k);
            Map<SafetensorsWriter.Entry, Assembled> src = new LinkedHashMap<>();
            shard.forEach(i -> src.put(i.entry(), i.src()));
            SafetensorsWriter.write(file, new ArrayList<>(src.keySet()), Map.of("format", "pt"), (e, sink) -> {
                long rows = Piece.rowsOf(e.shape());
                long cols = Piece.colsOf(e.shape());
                Fill.stream(List.of(Fill.Region.whole(src.get(e), rows, cols)), rows, cols, e.dtype(), sink);
            });
            for (Item i : shard) {
                weightMap.put(i.entry().name(), name);
                total += i.entry().bytes();
            }
            files.add(file);
        }
        if (shards.size() > 1) {
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata").put("total_size", total);
            ObjectNode wm = index.putObject("weight_map");
            weightMap.forEach(wm::put);
            writeJson(dir.resolve("model.safetensors.index.json"), index);
        }
        return files;
    }

    static void writeJson(Path file, JsonNode node) {
        try {
            Files.writeString(file, JSON.writeValueAsString(node) + "\n");
        } catch (IOException e) {
            throw new BadInputException(file + ": cannot be written: " + e.getMessage());
        }
    }

    /** Copies tokenizer, generation and other non-weight files of a reference HF folder. */
    public static List<String> copyCompanions(Path reference, Path dir) {
        List<String> copied = new ArrayList<>();
        try (Stream<Path> s = Files.list(reference)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String n = p.getFileName().toString();
                if (n.endsWith(".safetensors") || n.endsWith(".bin") || n.endsWith(".pt") || n.endsWith(".pth")
                        || n.equals("model.safetensors.index.json") || n.equals("pytorch_model.bin.index.json")
                        || n.equals("config.json") || n.endsWith(".manifest.json")) {
                    continue;
                }
                Files.copy(p, dir.resolve(n));
                copied.add(n);
            }
        } catch (IOException e) {
            throw new BadInputException(reference + ": cannot copy companion files: " + e.getMessage());
        }
        return copied;
    }
}
