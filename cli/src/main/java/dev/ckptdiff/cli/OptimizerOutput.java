package dev.ckptdiff.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.optim.MasterCheck;
import dev.ckptdiff.optim.OptimFinding;
import dev.ckptdiff.optim.OptimizerCheck;
import dev.ckptdiff.optim.OptimizerFile;
import dev.ckptdiff.optim.OptimizerInspection;

/** Text and JSON for the distributed-optimizer state: {@code inspect distrib_optim.pt} and {@code --optimizer}. */
final class OptimizerOutput {
    private OptimizerOutput() {
    }

    /** True for a {@code distrib_optim.pt} or a rank folder holding one. */
    static boolean isOptimizerInput(Path p) {
        return (Files.isRegularFile(p) && p.getFileName().toString().equals(OptimizerFile.NAME))
                || Files.isRegularFile(p.resolve(OptimizerFile.NAME));
    }

    static void inspection(PrintWriter out, OptimizerInspection ins) {
        out.println(Text.safe("distributed-optimizer state: " + ins.file()));
        List<String[]> facts = new ArrayList<>();
        facts.add(new String[]{"  size", Text.bytes(ins.bytes())});
        facts.add(new String[]{"  form", ins.chained() ? "list (chained optimizer: dense, then expert)" : "one optimizer"});
        Text.table(facts).forEach(out::println);
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[]{"  optimizer", "buffer", "dtypes (param, grad)", "form", "numel_unpadded", "state"});
        for (OptimizerInspection.Buffer b : ins.buffers()) {
            rows.add(b.written() ? new String[]{"  " + b.optimizer(), String.valueOf(b.gbufIdx()), b.dtypes(), b.form(),
                    String.valueOf(b.numelUnpadded()), String.join(", ", b.keys())}
                    : new String[]{"  " + b.optimizer(), "-", "-", "not written (not DP rank 0 of this optimizer)", "-", "-"});
        }
        Text.table(rows).forEach(l -> out.println(Text.safe(l)));
        if (ins.unproven() != null) {
            out.println(Text.safe("  layout: not proven: " + ins.unproven()));
            return;
        }
        out.println("  layout: proven (recomputed from args and the parameter order of " + "model_optim_rng.pt)");
        ins.proof().forEach(l -> out.println(Text.safe("    " + l)));
        List<String[]> params = new ArrayList<>();
        params.add(new String[]{"  param", "optimizer", "buffer", "bucket", "flat offset", "numel", "shape"});
        for (OptimizerInspection.Row r : ins.params()) {
            params.add(new String[]{"  " + r.name(), String.valueOf(r.optimizer()), String.valueOf(r.buffer()),
                    String.valueOf(r.bucket()), r.flatOffset() < 0 ? "(other rank)" : String.valueOf(r.flatOffset()),
                    String.valueOf(r.numel()), r.shape()});
        }
        Text.table(params).forEach(l -> out.println(Text.safe(l)));
    }

    static ObjectNode inspectionJson(OptimizerInspection ins) {
        ObjectNode o = InspectCommand.Json.MAPPER.createObjectNode();
        o.put("kind", "distrib_optim");
        o.put("path", ins.file().toString());
        o.put("bytes", ins.bytes());
        o.put("chained", ins.chained());
        ArrayNode bs = o.putArray("buffers");
        for (OptimizerInspection.Buffer b : ins.buffers()) {
            ObjectNode x = bs.addObject();
            x.put("optimizer", b.optimizer());
            x.put("written", b.written());
            if (b.written()) {
                x.put("gbuf_idx", b.gbufIdx());
                x.put("dtypes", b.dtypes());
                x.put("form", b.form());
                x.put("numel_unpadded", b.numelUnpadded());
                b.keys().forEach(x.putArray("keys")::add);
            }
        }
        o.put("layout_proven", ins.unproven() == null);
        if (ins.unproven() != null) {
            o.put("unproven", ins.unproven());
        }
        ins.proof().forEach(o.putArray("proof")::add);
        ArrayNode ps = o.putArray("params");
        for (OptimizerInspection.Row r : ins.params()) {
            ObjectNode x = ps.addObject();
            x.put("name", r.name());
            x.put("optimizer", r.optimizer());
            x.put("buffer", r.buffer());
            x.put("bucket", r.bucket());
            x.put("flat_offset", r.flatOffset());
            x.put("numel", r.numel());
            x.put("shape", r.shape());
        }
        return o;
    }

    /** Prints the check; returns the exit code (0 clean, 1 findings). */
    static int report(PrintWriter out, OptimizerCheck.Report r) {
        out.println(Text.safe("optimizer state: " + r.dir()));
        for (MasterCheck.RankCheck c : r.ranks()) {
            out.println(Text.safe("  " + c.folder() + ": " + c.paramsChecked() + " params, " + c.elementsChecked()
                    + " elements checked; layout " + (c.layout().proven() ? "proven" : "not proven")));
            c.layout().proof().forEach(l -> out.println(Text.safe("    " + l)));
        }
        for (OptimFinding f : r.findings()) {
            out.println(Text.safe("  " + severity(f) + ": " + f.where() + ": " + f.message()));
        }
        out.println(r.summary());
        return r.findings().isEmpty() ? 0 : Main.FINDINGS;
    }

    static ObjectNode reportJson(OptimizerCheck.Report r) {
        ObjectNode o = InspectCommand.Json.MAPPER.createObjectNode();
        o.put("path", r.dir().toString());
        o.put("masters_match", r.mastersMatch());
        o.put("summary", r.summary());
        ArrayNode ranks = o.putArray("ranks");
        for (MasterCheck.RankCheck c : r.ranks()) {
            ObjectNode x = ranks.addObject();
            x.put("folder", c.folder());
            x.put("params_checked", c.paramsChecked());
            x.put("elements_checked", c.elementsChecked());
            x.put("layout_proven", c.layout().proven());
            c.layout().proof().forEach(x.putArray("proof")::add);
        }
        ArrayNode fs = o.putArray("findings");
        for (OptimFinding f : r.findings()) {
            ObjectNode x = fs.addObject();
            x.put("kind", f.kind().name().toLowerCase(Locale.ROOT));
            x.put("folder", f.folder());
            x.put("param", f.param());
            x.put("element", f.element());
            x.put("flat_offset", f.flatOffset());
            x.put("message", f.message());
        }
        return o;
    }

    private static String severity(OptimFinding f) {
        return f.kind().name().toLowerCase(Locale.ROOT).replace('_', ' ');
    }
}
