package dev.ckptdiff.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.ckptdiff.inspect.Inspection;
import dev.ckptdiff.inspect.Inspector;
import dev.ckptdiff.tensor.Shapes;

@Command(name = "inspect", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        description = {"Show what a checkpoint holds: layout, args that matter, every tensor (name, dtype, shape,"
                + " size, file or rank).", "Reads headers and pickles only, never tensor data.",
                "PATH: a .safetensors or .pt file, an HF folder, a Megatron iter_* folder (or its parent),"
                        + " an actor/ or global_step_* folder.",
                "A distrib_optim.pt, or the mp_rank_* folder holding one: its optimizer buffers and which parameter lies where."})
final class InspectCommand implements Callable<Integer> {
    /** Built on first use: Jackson's mapper loads some 400 classes, which --version should not pay for. */
    static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    }

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "PATH", description = "What to inspect.")
    Path path;

    @Option(names = "--tree", description = "Also print the non-tensor content of torch.save files as a tree.")
    boolean tree;

    @Option(names = "--json", description = "Print JSON instead of tables.")
    boolean json;

    @Option(names = "--no-tensors", description = "Only the summary, no tensor list.")
    boolean noTensors;

    @Option(names = "--chunks", description = "torch_dist: also list every chunk (its slice of the global tensor,"
            + " .distcp file, byte offset and length).")
    boolean chunks;

    @Option(names = "--sha256", description = "Also print each tensor's SHA-256 (of its elements in row-major order)."
            + " Reads all tensor data.")
    boolean sha256;

    @Override
    public Integer call() throws Exception {
        if (OptimizerOutput.isOptimizerInput(path)) {
            dev.ckptdiff.optim.OptimizerInspection oi = dev.ckptdiff.optim.OptimizerInspection.of(path);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(Json.MAPPER.writeValueAsString(OptimizerOutput.inspectionJson(oi)));
            } else {
                OptimizerOutput.inspection(out, oi);
            }
            return 0;
        }
        Inspection ins = Inspector.inspect(path, tree, sha256, chunks);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(Json.MAPPER.writeValueAsString(toJson(ins)));
            return 0;
        }
        for (Inspection.CopyInfo c : ins.copies()) {
            out.println(switch (c.kind()) {
                case "hf" -> "HF model";
                case "megatron" -> "Megatron checkpoint";
                case "torch_dist" -> "Megatron torch_dist checkpoint";
                default -> "torch.save file";
            } + " (" + c.role() + "): " + Text.safe(c.path().toString()));
            List<String[]> facts = new ArrayList<>();
            for (Map.Entry<String, String> f : c.facts().entrySet()) {
                String v = f.getKey().equals("bytes") ? Text.bytes(Long.parseLong(f.getValue()))
                        : Text.safe(f.getValue());
                facts.add(new String[]{"  " + f.getKey(), v});
            }
            Text.table(facts).forEach(out::println);
            c.notes().forEach(n -> out.println("  note: " + Text.safe(n)));
            if (!noTensors) {
                List<String[]> rows = new ArrayList<>();
                rows.add(sha256 ? new String[]{"  name", "dtype", "shape", "size", "where", "sha256"}
                        : new String[]{"  name", "dtype", "shape", "size", "where"});
                for (Inspection.TensorRow r : c.tensors()) {
                    String[] row = {(r.chunk().equals("chunk") ? "    " : "  ") + Text.safe(r.name()), r.dtype(),
                            Shapes.toString(r.shape()), Text.bytes(r.bytes()), Text.safe(where(r))};
                    rows.add(sha256 ? java.util.stream.Stream.concat(java.util.Arrays.stream(row),
                            java.util.stream.Stream.of(r.sha256())).toArray(String[]::new) : row);
                }
                Text.table(rows).forEach(out::println);
            }
            if (tree && !c.tree().isEmpty()) {
                out.println("  content:");
                c.tree().forEach(l -> out.println("    " + l));
            }
            out.println();
        }
        return 0;
    }

    private static String where(Inspection.TensorRow r) {
        return r.file() + (r.chunk().isEmpty() || r.chunk().equals("model") || r.chunk().equals("chunk") ? "" : " " + r.chunk())
                + (r.key().equals(r.name()) || r.chunk().equals("chunk") ? "" : " (" + r.key() + ")");
    }

    private static ObjectNode toJson(Inspection ins) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("input", ins.input().toString());
        ArrayNode copies = root.putArray("copies");
        for (Inspection.CopyInfo c : ins.copies()) {
            ObjectNode o = copies.addObject();
            o.put("kind", c.kind());
            o.put("role", c.role());
            o.put("path", c.path().toString());
            ObjectNode facts = o.putObject("facts");
            c.facts().forEach(facts::put);
            ArrayNode ts = o.putArray("tensors");
            for (Inspection.TensorRow r : c.tensors()) {
                ObjectNode t = ts.addObject();
                t.put("name", r.name());
                t.put("dtype", r.dtype());
                ArrayNode shape = t.putArray("shape");
                for (long d : r.shape()) {
                    shape.add(d);
                }
                t.put("bytes", r.bytes());
                t.put("file", r.file());
                t.put("key", r.key());
                if (!r.chunk().isEmpty()) {
                    t.put("chunk", r.chunk());
                }
                if (r.sha256() != null) {
                    t.put("sha256", r.sha256());
                }
            }
            ArrayNode notes = o.putArray("notes");
            c.notes().forEach(notes::add);
            if (c.treeJson() != null) {
                o.set("content", c.treeJson());
            }
        }
        return root;
    }
}
