package dev.ckptdiff.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Help.Ansi;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import dev.ckptdiff.diff.DiffReport;
import dev.ckptdiff.diff.ReportJson;
import dev.ckptdiff.io.BadInputException;
import dev.ckptdiff.report.HtmlReport;
import dev.ckptdiff.report.Metric;
import dev.ckptdiff.shard.ShardReport;

@Command(name = "merge", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        description = {"Combine the parts of a sharded run (ckpt-diff --shard I/N --json part-I.json ...) into the report",
                "and exit code the unsharded run gives. Refuses parts of different runs and a missing part."})
final class MergeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "PART", description = "Every part's JSON file.")
    List<Path> parts;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the merged report as JSON to FILE ('-' for stdout).")
    Path json;

    @Option(names = "--html", paramLabel = "FILE", description = "Write the merged report as HTML to FILE.")
    Path html;

    @Option(names = "--all", description = "List every tensor, not only those that differ.")
    boolean all;

    @Override
    public Integer call() throws IOException {
        List<JsonNode> nodes = new ArrayList<>();
        for (Path p : parts) {
            try {
                nodes.add(InspectCommand.Json.MAPPER.readTree(p.toFile()));
            } catch (IOException e) {
                throw BadInputException.in(p, "is not a part's JSON: " + e.getMessage().lines().findFirst().orElse(""));
            }
        }
        DiffCommand.refuseReportsOverInputs(parts, json, html);
        DiffReport report = ShardReport.merge(parts, nodes);
        PrintWriter out = spec.commandLine().getOut();
        boolean jsonToStdout = json != null && json.toString().equals("-");
        if (json != null) {
            String text = InspectCommand.Json.MAPPER.writeValueAsString(ReportJson.of(report));
            if (jsonToStdout) {
                out.println(text);
            } else {
                DiffCommand.writeAtomically(json, text);
            }
        }
        if (html != null) {
            DiffCommand.writeAtomically(html, HtmlReport.render(report, Metric.REL_L2));
        }
        if (!jsonToStdout) {
            new DiffCommand.TextReport(out, Ansi.OFF, all).print(report);
        }
        return report.exitCode();
    }
}
