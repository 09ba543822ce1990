package dev.ckptdiff.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The HTML report as a person sees it: rendered by headless Chromium, which runs the page's script and then dumps
 * the DOM. The page records the colour of the pixel at the centre of every heatmap cell, so the test checks the
 * drawn picture (the fault's cell is the reddest one), not the data handed to the chart. Chromium is Debian's
 * {@code chromium} package, which .ci/run installs; without it the test is skipped locally and fails in CI.
 */
class HtmlReportBrowserTest {
    private static final JsonNode FAULTS = Cli.read(Cli.fixtures().resolve("faults/FAULTS.json"));
    private static String chromium;

    @BeforeAll
    static void findChromium() {
        for (String name : List.of("chromium", "chromium-browser")) {
            for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
                if (Files.isExecutable(Path.of(dir, name))) {
                    chromium = Path.of(dir, name).toString();
                    return;
                }
            }
        }
        if (System.getenv("CI") != null) {
            fail("chromium is not installed (.ci/run installs Debian's chromium package)");
        }
        Assumptions.abort("chromium is not installed: apt-get install chromium");
    }

    /** What the browser showed: each chart's cell colours, its declared hot cell, and the page's errors. */
    record Rendered(int charts, String errors, Map<String, Map<String, int[]>> pixels, Map<String, String> hot, String log) {
        /** Red minus green: the scale runs from grey (equal) through yellow and orange to dark red. */
        static int heat(int[] rgb) {
            return rgb[0] - rgb[1];
        }
    }

    static Rendered render(Path html, Path tmp) throws IOException, InterruptedException {
        Path dom = tmp.resolve("dom.html");
        Path log = tmp.resolve("chromium.log");
        Process p = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--user-data-dir=" + tmp.resolve("profile"), "--window-size=1200,1000", "--virtual-time-budget=15000",
                "--enable-logging=stderr", "--v=0", "--dump-dom", html.toUri().toString())
                .redirectOutput(dom.toFile()).redirectError(log.toFile()).start();
        if (!p.waitFor(180, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("chromium did not finish rendering " + html);
        }
        assertEquals(0, p.exitValue(), () -> read(log));
        String page = Files.readString(dom);
        Matcher rendered = Pattern.compile("data-charts-rendered=\"(\\d+)\"").matcher(page);
        Matcher errors = Pattern.compile("<body[^>]*data-errors=\"([^\"]*)\"").matcher(page);
        Map<String, Map<String, int[]>> pixels = new java.util.LinkedHashMap<>();
        Map<String, String> hot = new java.util.LinkedHashMap<>();
        Matcher div = Pattern.compile("<div class=\"chart\" id=\"([^\"]+)\"([^>]*)>").matcher(page);
        while (div.find()) {
            String attrs = div.group(2);
            Matcher px = Pattern.compile("data-pixels=\"([^\"]*)\"").matcher(attrs);
            Matcher h = Pattern.compile("data-hot=\"([^\"]*)\"").matcher(attrs);
            Map<String, int[]> cells = new java.util.LinkedHashMap<>();
            if (px.find()) {
                Cli.JSON.readTree(unescape(px.group(1))).properties().forEach(e -> cells.put(e.getKey(),
                        new int[]{e.getValue().get(0).asInt(), e.getValue().get(1).asInt(), e.getValue().get(2).asInt()}));
            }
            pixels.put(div.group(1), cells);
            hot.put(div.group(1), h.find() ? unescape(h.group(1)) : null);
        }
        return new Rendered(rendered.find() ? Integer.parseInt(rendered.group(1)) : -1,
                errors.find() ? unescape(errors.group(1)) : null, pixels, hot, read(log));
    }

    private static String unescape(String s) {
        return s.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&");
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }

    static void drawnWithoutErrors(Rendered r) {
        assertEquals(r.pixels().size(), r.charts(), "every chart drew: " + r.log());
        assertTrue(r.charts() >= 1);
        assertEquals("[]", r.errors(), "page errors");
        List<String> console = r.log().lines().filter(l -> l.contains(":CONSOLE")).toList();
        assertEquals(List.of(), console, "console messages");
        r.pixels().forEach((id, cells) -> assertFalse(cells.isEmpty(), id + " has cells"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
            "hf_element; layer 1|down",
            "hf_gate_up_swap; layer 0|gate, layer 0|up",
            "hf_missing; layer 3|norms",
            "qkv_kv_swap; layer 2|k, layer 2|v",
            "replicated_norm; layer 2|norms",
            "shard_nan; layer 1|o",
            "tied_lm_head; global|lm_head"})
    void theFaultIsTheHotCellOnScreen(String fault, String cells, @TempDir Path tmp) throws Exception {
        Set<String> expected = Set.copyOf(Arrays.asList(cells.split(", ")));
        // the table above says what FAULTS.json says: each named tensor's layer and kind
        JsonNode f = FAULTS.get(fault);
        List<String> tensors = new ArrayList<>();
        f.path("tensors").forEach(t -> tensors.add(t.asText()));
        if (f.has("tensor")) {
            tensors.add(f.get("tensor").asText());
        }
        for (String t : tensors) {
            assertTrue(expected.stream().anyMatch(c -> t.contains(c.startsWith("layer ") ? "layers." + c.substring(6, c.indexOf('|')) + "." : "lm_head")),
                    t + " vs " + expected);
        }
        Path html = tmp.resolve("report.html");
        Cli run = Cli.run("--no-progress", "--html", html.toString(), Cli.fixtures().resolve("faults/" + fault + "/global_step_10").toString());
        assertEquals(1, run.exit(), run.err());
        Rendered r = render(html, tmp);
        drawnWithoutErrors(r);
        Map<String, int[]> layer = r.pixels().get("layers-0");
        int hottest = layer.values().stream().mapToInt(Rendered::heat).max().orElseThrow();
        for (String cell : expected) {
            int[] rgb = layer.get(cell);
            assertTrue(rgb != null, cell + " drawn: " + layer.keySet());
            assertTrue(rgb[0] > 180 && rgb[1] < 110 && rgb[2] < 110, cell + " is red: " + Arrays.toString(rgb));
            assertEquals(hottest, Rendered.heat(rgb), cell + " is the hottest cell");
        }
        layer.forEach((cell, rgb) -> {
            if (!expected.contains(cell)) {
                assertTrue(Rendered.heat(rgb) < hottest, cell + " " + Arrays.toString(rgb) + " as hot as the fault");
            }
        });
        assertTrue(expected.contains(r.hot().get("layers-0")), r.hot().toString());
    }

    @Test
    void aCopyWithinToleranceHasNoRedCell(@TempDir Path tmp) throws Exception {
        Path html = tmp.resolve("report.html");
        Cli run = Cli.run("--no-progress", "--html", html.toString(), Cli.fixtures().resolve("faults/hf_fp16/global_step_10").toString());
        assertEquals(0, run.exit(), run.err());
        Rendered r = render(html, tmp);
        drawnWithoutErrors(r);
        r.pixels().forEach((id, cells) -> cells.forEach((cell, rgb) ->
                assertTrue(rgb[1] >= 110, id + " " + cell + " is red: " + Arrays.toString(rgb))));
        // fp16 re-rounding touched every tensor: not one cell is the grey of "bitwise equal"
        assertTrue(r.pixels().get("layers-0").values().stream().anyMatch(rgb -> rgb[2] < 200), "re-rounding is visible");
    }

    @Test
    void theShardViewPointsAtTheRankFile(@TempDir Path tmp) throws Exception {
        Path html = tmp.resolve("report.html");
        Cli.run("--no-progress", "--html", html.toString(), Cli.fixtures().resolve("faults/shard_nan/global_step_10").toString());
        Rendered r = render(html, tmp);
        drawnWithoutErrors(r);
        Map<String, int[]> files = r.pixels().get("files-0");
        int[] rgb = files.get("B " + FAULTS.get("shard_nan").get("megatron_file").asText() + "|o");
        assertTrue(rgb != null && rgb[0] > 180 && rgb[1] < 110, files.keySet().toString());
    }

    @Test
    void theDriftPlotShowsTheLayerThatMoved(@TempDir Path tmp) throws Exception {
        Path html = tmp.resolve("drift.html");
        Cli run = Cli.run("--no-progress", "--drift", "--html", html.toString(), Cli.fixtures().resolve("drift/checkpoints").toString());
        assertEquals(0, run.exit(), run.err());
        Rendered r = render(html, tmp);
        drawnWithoutErrors(r);
        Map<String, int[]> steps = r.pixels().get("steps");
        int hottest = steps.values().stream().mapToInt(Rendered::heat).max().orElseThrow();
        assertEquals(hottest, Rendered.heat(steps.get("layer 1|10->20")), steps.keySet().toString());
        // layer 3 moved a little (0.02): warmer than the unchanged layers, cooler than layer 1 (0.5)
        int layer3 = Rendered.heat(steps.get("layer 3|10->20"));
        assertTrue(layer3 < hottest && layer3 > Rendered.heat(steps.get("layer 0|10->20")), "layer 3 " + layer3);
        steps.forEach((cell, rgb) -> {
            if (cell.endsWith("20->30") || cell.startsWith("layer 0|") || cell.startsWith("layer 2|")) {
                assertEquals(238, rgb[0], cell + " unchanged is grey");
            }
        });
    }
}
