package dev.ckptdiff.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.ckptdiff.check.CheckRunner;
import dev.ckptdiff.check.Finding;
import dev.ckptdiff.check.LayoutCheck;
import dev.ckptdiff.check.RlinfCheck;
import dev.ckptdiff.check.Section;
import dev.ckptdiff.check.Severity;
import dev.ckptdiff.io.BadInputException;

@Command(name = "check", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        description = {"Check a model against its config and against a parallel layout, before training.",
                "Reads headers and pickles only.",
                "",
                "  ckpt-diff check HF_DIR|ITER_DIR|STEP_DIR [--tp N --pp N --vpp N --ep N --etp N]",
                "  ckpt-diff check --config run.yaml        an RLinf config, and the HF model it points to",
                "  ckpt-diff check --optimizer STEP_DIR     fp32 masters in distrib_optim.pt against the weights",
                "",
                "Exit codes: 0 no errors (warnings allowed), 1 errors found, 2 bad input or usage."})
final class CheckCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..1", paramLabel = "PATH", description = "An HF folder, a Megatron iteration folder or a step folder.")
    Path path;

    @Option(names = "--config", paramLabel = "YAML", description = "An RLinf run configuration.")
    Path config;

    @Option(names = "--tp", description = "Tensor-parallel size to check against.")
    Integer tp;

    @Option(names = "--pp", description = "Pipeline-parallel size.")
    Integer pp;

    @Option(names = "--vpp", description = "Virtual pipeline size (model chunks per stage).")
    Integer vpp;

    @Option(names = "--ep", description = "Expert-parallel size.")
    Integer ep;

    @Option(names = "--etp", description = "Expert tensor-parallel size (default: the TP size).")
    Integer etp;

    @Option(names = "--cp", description = "Context-parallel size (counts toward the world size).")
    Integer cp;

    @Option(names = "--world-size", paramLabel = "GPUS", description = "GPUs the job will run on: must divide into"
            + " TP x PP x CP replicas (and ETP x EP x PP for experts).")
    Integer worldSize;

    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;

    @Option(names = "--optimizer", description = "Check the distributed-optimizer state (distrib_optim.pt) against"
            + " the weights: do the fp32 masters round to them, are the moments finite.")
    boolean optimizer;

    @Override
    public Integer call() throws Exception {
        if (optimizer) {
            if (path == null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--optimizer needs PATH");
            }
            dev.ckptdiff.optim.OptimizerCheck.Report r = dev.ckptdiff.optim.OptimizerCheck.run(path);
            if (json) {
                spec.commandLine().getOut().println(InspectCommand.Json.MAPPER.writeValueAsString(OptimizerOutput.reportJson(r)));
                return r.findings().isEmpty() ? 0 : Main.FINDINGS;
            }
            return OptimizerOutput.report(spec.commandLine().getOut(), r);
        }
        if ((path == null) == (config == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "give either PATH or --config YAML");
        }
        for (Integer v : new Integer[]{tp, pp, vpp, ep, etp, cp, worldSize}) {
            if (v != null && v < 1) {
                throw new BadInputException("--tp, --pp, --vpp, --ep, --etp, --cp and --world-size must be at least 1");
            }
        }
        LayoutCheck.Layout layout = tp == null && pp == null && vpp == null && ep == null && etp == null && cp == null
                && worldSize == null ? null
                : new LayoutCheck.Layout(tp == null ? 1 : tp, pp == null ? 1 : pp, vpp == null ? 1 : vpp, ep == null ? 1 : ep,
                etp == null ? 0 : etp, cp == null ? 1 : cp, worldSize == null ? 0 : worldSize);
        List<Section> sections = config != null ? RlinfCheck.run(config) : CheckRunner.run(path, layout);
        long errors = sections.stream().mapToLong(Section::errors).sum();
        long warnings = sections.stream().flatMap(s -> s.findings().stream()).filter(f -> f.severity() == Severity.WARNING).count();
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(InspectCommand.Json.MAPPER.writeValueAsString(toJson(sections, errors, warnings)));
        } else {
            for (Section s : sections) {
                out.println(s.title() + ": " + Text.safe(String.valueOf(s.path())));
                List<String[]> facts = new ArrayList<>();
                s.facts().forEach((k, v) -> facts.add(new String[]{"  " + k, v}));
                Text.table(facts).forEach(l -> out.println(Text.safe(l)));
                for (Finding f : s.findings()) {
                    out.println("  " + f.severity().name().toLowerCase(java.util.Locale.ROOT) + ": " + Text.safe(f.subject()) + ": " + Text.safe(f.message()));
                }
                if (s.findings().stream().noneMatch(f -> f.severity() != Severity.INFO)) {
                    out.println("  ok");
                }
                out.println();
            }
            out.println((errors == 0 ? "OK" : "FAILED") + ": " + errors + " error(s), " + warnings + " warning(s)");
        }
        return errors > 0 ? Main.FINDINGS : 0;
    }

    private static ObjectNode toJson(List<Section> sections, long errors, long warnings) {
        ObjectNode root = InspectCommand.Json.MAPPER.createObjectNode();
        root.put("errors", errors);
        root.put("warnings", warnings);
        ArrayNode arr = root.putArray("sections");
        for (Section s : sections) {
            ObjectNode o = arr.addObject();
            o.put("title", s.title());
            o.put("path", s.path());
            ObjectNode facts = o.putObject("facts");
            for (Map.Entry<String, String> e : s.facts().entrySet()) {
                facts.put(e.getKey(), e.getValue());
            }
            ArrayNode fs = o.putArray("findings");
            for (Finding f : s.findings()) {
                ObjectNode x = fs.addObject();
                x.put("severity", f.severity().name().toLowerCase(java.util.Locale.ROOT));
                x.put("subject", f.subject());
                x.put("message", f.message());
            }
        }
        return root;
    }
}
