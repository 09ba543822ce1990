package dev.ckptdiff.report;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ckptdiff.diff.Comparison;
import dev.ckptdiff.diff.DiffReport;
import dev.ckptdiff.diff.DtypeCounts;
import dev.ckptdiff.diff.TensorResult;
import dev.ckptdiff.diff.Verdict;
import dev.ckptdiff.tensor.Shapes;

/**
 * The {@code --html} report: one self-contained page (the charting library and the data inlined, nothing fetched)
 * with the inputs, the verdict, every finding with its blame, the consistency checks, and per comparison a heatmap
 * of layers by tensor kind plus, where a side is stored per rank, one of rank files by tensor kind.
 */
public final class HtmlReport {
    /** Log10 of the metric is clamped to [FLOOR, CEIL]: FLOOR is "bitwise equal", CEIL "as large as the tensor". */
    static final double FLOOR = -9;
    static final double CEIL = 1;
    /** Rows beyond this in the findings table are left to --json; the heatmap still shows every tensor. */
    static final int MAX_FINDING_ROWS = 2000;
    private static final int TIP_TENSORS = 6;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final Metric metric;
    private final StringBuilder html = new StringBuilder(1 << 16);
    private final ArrayNode charts = MAPPER.createArrayNode();

    private HtmlReport(Metric metric) {
        this.metric = metric;
    }

    /** The page for one report. */
    public static String render(DiffReport report, Metric metric) {
        return new HtmlReport(metric).page(report);
    }

    /**
     * The page for {@code --drift} over a run's steps: the update size per layer across step transitions, and the
     * text summary of each transition.
     */
    public static String renderSteps(String run, Heatmap steps, List<String> summary) {
        HtmlReport r = new HtmlReport(Metric.UPDATE);
        r.head("drift of " + run, "DRIFT", true);
        r.html.append("<table class=\"kv\">");
        r.kv("run", run);
        r.kv("colour", Metric.UPDATE.label() + " of the layer's most-changed tensor, log scale");
        r.html.append("</table>\n<h3>Update size per layer across steps</h3>\n");
        r.chart("steps", steps);
        r.html.append("<pre class=\"summary\">").append(esc(String.join("\n", summary))).append("</pre>\n");
        return r.tail();
    }

    private void head(String title, String verdict, boolean good) {
        html.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ckpt-diff: ")
                .append(esc(title)).append("</title>\n<style>").append(CSS).append("</style></head>\n<body>\n");
        html.append("<h1>ckpt-diff <span class=\"verdict ").append(good ? "same" : "differ").append("\" id=\"verdict\">")
                .append(verdict).append("</span></h1>\n");
    }

    private String page(DiffReport r) {
        boolean same = r.findings() == 0;
        if (metric == Metric.UPDATE) {
            head(String.join(" vs ", r.inputs()), "DRIFT", true);
        } else {
            head(String.join(" vs ", r.inputs()), same ? "SAME" : "DIFFERENT", same);
        }
        html.append("<p>")
                .append(r.findings()).append(" finding(s) in ").append(r.comparisons().size()).append(" comparison(s); exit code ")
                .append(r.exitCode()).append("</p>\n");
        html.append("<table class=\"kv\">");
        kv("inputs", String.join("\n", r.inputs()));
        kv("tolerance", "atol " + r.tolerance().atol() + ", rtol " + r.tolerance().rtol()
                + " (same when |a−b| ≤ atol + rtol·max(|a|,|b|))");
        kv("engine", r.engine() + ", " + r.threads() + " thread(s), " + String.format(Locale.ROOT, "%.2f s", r.seconds()));
        kv("colour", metric.label() + ", log scale");
        html.append("</table>\n");
        for (int i = 0; i < r.comparisons().size(); i++) {
            comparison(i, r.comparisons().get(i));
        }
        return tail();
    }

    private String tail() {
        String data;
        try {
            data = MAPPER.writeValueAsString(MAPPER.createObjectNode().set("charts", charts));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        // Inside <script> only "</" could end the element early; JSON allows "<\/" for it.
        html.append("<script type=\"application/json\" id=\"ckpt-data\">").append(data.replace("</", "<\\/")).append("</script>\n");
        html.append("<script>").append(Library.ECHARTS.replace("</script", "<\\/script")).append("</script>\n");
        html.append("<script>").append(SCRIPT).append("</script>\n</body></html>\n");
        return html.toString();
    }

    private void comparison(int i, Comparison c) {
        List<TensorResult> tensors = c.outcome().tensors();
        List<TensorResult> checks = c.outcome().checks();
        html.append("<section class=\"comparison\"><h2>").append(esc(c.labelB())).append(" vs ").append(esc(c.labelA())).append("</h2>\n");
        html.append("<table class=\"kv\">");
        kv("A", c.labelA() + "  " + c.pathA());
        kv("B", c.labelB() + "  " + c.pathB());
        if (!c.architecture().isEmpty()) {
            kv("architecture", c.architecture());
        }
        DtypeCounts dtypes = c.dtypes();
        kv("dtypes", dtypes.describe()
                + (dtypes.differ() ? ": the copies store different dtypes; values compared as float32" : ""));
        if (!c.notes().isEmpty()) {
            kv("layout", String.join("\n", c.notes()));
        }
        StringBuilder counts = new StringBuilder();
        for (Verdict v : Verdict.values()) {
            long n = c.count(v);
            if (n > 0) {
                counts.append(counts.isEmpty() ? "" : ", ").append(n).append(' ').append(v.label());
            }
        }
        kv("tensors", tensors.size() + ": " + counts + "; " + c.outcome().bytesCompared() + " bytes compared");
        html.append("</table>\n");

        List<TensorResult> all = new ArrayList<>(tensors);
        all.addAll(checks);
        Heatmap layers = Heatmap.byLayer(all, metric);
        html.append("<h3>By layer</h3><p class=\"hint\">Layers down, tensor kinds across; each cell is coloured by the worst tensor in it"
                + " (consistency checks included), grey when bitwise equal. Hover for the exact metrics.</p>\n");
        chart("layers-" + i, layers);
        Heatmap files = Heatmap.byFile(all, metric);
        if (!files.isEmpty()) {
            html.append("<h3>By rank file</h3><p class=\"hint\">Where the differing elements are stored: one row per Megatron rank folder"
                    + " (TP/PP/EP rank) that holds a differing piece.</p>\n");
            chart("files-" + i, files);
        }
        findings(tensors);
        checks(checks);
        html.append("</section>\n");
    }

    private void chart(String id, Heatmap h) {
        html.append("<div class=\"chart\" id=\"").append(id).append("\"></div>\n");
        ObjectNode ch = charts.addObject();
        ch.put("id", id);
        ch.put("metric", metric.label());
        h.rows().forEach(ch.putArray("rows")::add);
        h.columns().forEach(ch.putArray("cols")::add);
        ArrayNode cells = ch.putArray("cells");
        ArrayNode tips = ch.putArray("tips");
        for (Heatmap.Cell cell : h.cells()) {
            ArrayNode xy = cells.addArray();
            xy.add(h.columns().indexOf(cell.column()));
            xy.add(h.rows().indexOf(cell.row()));
            xy.add(scaled(cell.value()));
            tips.add(tip(cell));
        }
        Heatmap.Cell hot = h.hottest();
        if (hot != null) {
            ch.put("hot", hot.row() + "|" + hot.column());
        }
    }

    /** The colour scale's coordinate: log10 of the metric, clamped; 0 and infinity at the ends. */
    static double scaled(double v) {
        if (v == 0 || Double.isNaN(v)) {
            return FLOOR;
        }
        if (Double.isInfinite(v)) {
            return CEIL;
        }
        return Math.max(FLOOR + 0.01, Math.min(CEIL, Math.log10(v)));
    }

    private String tip(Heatmap.Cell cell) {
        StringBuilder sb = new StringBuilder();
        sb.append("<b>").append(esc(cell.row())).append(" · ").append(esc(cell.column())).append("</b> (")
                .append(cell.entries().size()).append(" tensor").append(cell.entries().size() == 1 ? "" : "s").append(")");
        int n = 0;
        for (Heatmap.Entry e : cell.entries()) {
            if (n++ == TIP_TENSORS) {
                sb.append("<br>… ").append(cell.entries().size() - TIP_TENSORS).append(" more");
                break;
            }
            TensorResult t = e.tensor();
            var s = t.stats();
            sb.append("<br>").append(esc(t.name())).append(": <i>").append(esc(t.verdict().label())).append("</i>");
            if (s.count > 0) {
                sb.append(String.format(Locale.ROOT, ", %s %s, rel L2 %s, max|a−b| %s, 1−cos %s, %d of %d differ, %d over tol",
                        metric == Metric.UPDATE ? "update" : "‖a−b‖/‖b‖", num(e.value()), num(s.relL2()), num(Math.max(0, s.maxAbs)),
                        num(s.oneMinusCosine()), s.count - s.equal, s.count, s.overTol));
                if (s.nonFinite() > 0) {
                    sb.append(String.format(Locale.ROOT, ", NaN A/B %d/%d, Inf A/B %d/%d", s.nanA, s.nanB, s.infA, s.infB));
                }
            } else {
                sb.append(", A ").append(esc(t.dtypeA())).append(shape(t.shapeA()))
                        .append(", B ").append(esc(t.dtypeB())).append(shape(t.shapeB()));
            }
            if (!e.detail().isEmpty()) {
                sb.append("<br>&nbsp;&nbsp;").append(esc(e.detail()));
            }
        }
        return sb.toString();
    }

    private void findings(List<TensorResult> tensors) {
        List<TensorResult> bad = new ArrayList<>(tensors.stream().filter(t -> t.verdict().isFinding()).toList());
        bad.sort(Comparator.comparing(TensorResult::verdict).reversed().thenComparing(t -> -t.stats().maxAbs));
        html.append("<h3>Findings (").append(bad.size()).append(")</h3>\n");
        if (bad.isEmpty()) {
            html.append("<p>None: every tensor is identical or within tolerance.</p>\n");
            return;
        }
        resultTable(bad, "findings");
    }

    private void checks(List<TensorResult> checks) {
        if (checks.isEmpty()) {
            return;
        }
        long failed = checks.stream().filter(t -> t.verdict().isFinding()).count();
        html.append("<h3>Consistency checks (").append(checks.size()).append(", ")
                .append(failed == 0 ? "all hold" : failed + " failed").append(")</h3>\n");
        resultTable(checks, "checks");
    }

    private void resultTable(List<TensorResult> rows, String cls) {
        html.append("<table class=\"results ").append(cls).append("\"><tr><th>tensor</th><th>verdict</th><th>dtype A/B</th>"
                + "<th>shape</th><th>differ / elements</th><th>max|a−b|</th><th>rel L2</th><th>1−cos</th><th>where (file, key, part, element)</th></tr>\n");
        int shown = 0;
        for (TensorResult t : rows) {
            if (shown++ == MAX_FINDING_ROWS) {
                html.append("<tr><td colspan=\"9\">… ").append(rows.size() - MAX_FINDING_ROWS).append(" more (--json for all)</td></tr>\n");
                break;
            }
            var s = t.stats();
            html.append("<tr class=\"").append(t.verdict().isFinding() ? "bad" : "ok").append("\"><td class=\"name\">").append(esc(t.name()))
                    .append("</td><td>").append(esc(t.verdict().label())).append("</td><td>").append(esc(t.dtypeA())).append('/')
                    .append(esc(t.dtypeB())).append("</td><td>").append(esc(Shapes.toString(t.shapeA() != null ? t.shapeA() : t.shapeB())))
                    .append("</td>");
            if (s.count > 0) {
                html.append("<td>").append(s.count - s.equal).append(" / ").append(s.count).append("</td><td>").append(num(Math.max(0, s.maxAbs)))
                        .append("</td><td>").append(num(s.relL2())).append("</td><td>").append(num(s.oneMinusCosine())).append("</td>");
            } else {
                html.append("<td>-</td><td>-</td><td>-</td><td>-</td>");
            }
            html.append("<td class=\"where\">");
            for (TensorResult.Where w : t.where()) {
                TensorResult.Element e = w.max() != null ? w.max() : w.first();
                html.append("<div>").append(w.differing()).append(" differ in A ").append(esc(w.a().describe())).append(" / B ")
                        .append(esc(w.b().describe()));
                if (w.nonFinite() > 0) {
                    html.append(" (").append(w.nonFinite()).append(" non-finite)");
                }
                if (e != null) {
                    html.append("<br>").append(w.max() != null ? "worst" : "first").append(" element ").append(esc(e.hfIndex()))
                            .append(": A").append(esc(e.indexA())).append(" = ").append(num(e.a())).append(", B").append(esc(e.indexB()))
                            .append(" = ").append(num(e.b()));
                }
                html.append("</div>");
            }
            t.notes().forEach(n -> html.append("<div class=\"note\">").append(esc(n)).append("</div>"));
            html.append("</td></tr>\n");
        }
        html.append("</table>\n");
    }

    private void kv(String k, String v) {
        html.append("<tr><th>").append(esc(k)).append("</th><td>").append(esc(v).replace("\n", "<br>")).append("</td></tr>");
    }

    private static String shape(long[] s) {
        return s == null ? " (absent)" : Shapes.toString(s);
    }

    static String num(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4g", v) : Double.toString(v);
    }

    /** Text from files (names, paths, keys) may hold anything; it is shown, never interpreted. */
    static String esc(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            switch (ch) {
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '&' -> sb.append("&amp;");
                case '"' -> sb.append("&quot;");
                case '\'' -> sb.append("&#39;");
                default -> {
                    if (ch < 0x20 && ch != '\n' && ch != '\t') {
                        sb.append(String.format(Locale.ROOT, "\\x%02x", (int) ch));
                    } else {
                        sb.append(ch);
                    }
                }
            }
        }
        return sb.toString();
    }

    /** ECharts' minified build from its WebJar, read once from the class path. */
    private static final class Library {
        static final String ECHARTS = load();

        private static String load() {
            ClassLoader cl = HtmlReport.class.getClassLoader();
            try (InputStream props = cl.getResourceAsStream("META-INF/maven/org.webjars.npm/echarts/pom.properties")) {
                if (props == null) {
                    throw new IllegalStateException("the ECharts WebJar is not on the class path");
                }
                Properties p = new Properties();
                p.load(props);
                String path = "META-INF/resources/webjars/echarts/" + p.getProperty("version") + "/dist/echarts.min.js";
                try (InputStream js = cl.getResourceAsStream(path)) {
                    if (js == null) {
                        throw new IllegalStateException(path + " is missing from the ECharts WebJar");
                    }
                    return new String(js.readAllBytes(), StandardCharsets.UTF_8);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static final String CSS = """
            body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
            h1{font-size:1.5em} h2{margin-top:2em;border-bottom:1px solid #ccc} h3{margin-top:1.5em}
            .verdict{padding:.1em .5em;border-radius:4px;color:#fff} .same{background:#2e7d32} .differ{background:#c62828}
            table{border-collapse:collapse} .kv th{text-align:left;padding-right:1em;vertical-align:top}
            .results td,.results th{border:1px solid #ddd;padding:.2em .4em;vertical-align:top;font-size:13px}
            .results tr.bad td:nth-child(2){color:#c62828;font-weight:600} .name{font-family:monospace}
            .where{font-family:monospace;font-size:12px} .note{color:#6a1b9a} .hint{color:#555}
            .chart{width:100%;max-width:1100px;min-height:150px}
            """;

    /**
     * Draws every chart, then records what a person would see, for tests and for CI artifacts: each chart's
     * data-rendered, the pixel colour at every cell (data-pixels, the first 4000 cells) and any error.
     */
    private static final String SCRIPT = """
            (function () {
              var errors = [];
              function note() { document.body.setAttribute('data-errors', JSON.stringify(errors)); }
              window.addEventListener('error', function (e) { errors.push(String(e.message)); note(); });
              var origError = console.error;
              console.error = function () { errors.push(Array.prototype.join.call(arguments, ' ')); note(); origError.apply(console, arguments); };
              var data = JSON.parse(document.getElementById('ckpt-data').textContent);
              var done = 0;
              data.charts.forEach(function (ch) {
                var el = document.getElementById(ch.id);
                var longest = ch.rows.reduce(function (m, r) { return Math.max(m, r.length); }, 4);
                el.style.height = Math.max(150, 80 + ch.rows.length * 22) + 'px';
                var chart = echarts.init(el, null, {renderer: 'canvas'});
                chart.on('finished', function once() {
                  chart.off('finished', once);
                  var canvas = el.querySelector('canvas');
                  var ctx = canvas.getContext('2d');
                  var scale = canvas.width / chart.getWidth();
                  var pixels = {};
                  var img = ctx.getImageData(0, 0, canvas.width, canvas.height).data; // one read-back for all cells
                  ch.cells.slice(0, 4000).forEach(function (c) {
                    var p = chart.convertToPixel({seriesIndex: 0}, [c[0], c[1]]);
                    var i = 4 * (Math.round(p[1] * scale) * canvas.width + Math.round(p[0] * scale));
                    pixels[ch.rows[c[1]] + '|' + ch.cols[c[0]]] = [img[i], img[i + 1], img[i + 2]];
                  });
                  el.setAttribute('data-pixels', JSON.stringify(pixels));
                  el.setAttribute('data-hot', ch.hot || '');
                  el.setAttribute('data-rendered', String(ch.cells.length));
                  done++;
                  document.body.setAttribute('data-charts-rendered', String(done));
                  note();
                });
                chart.setOption({
                  animation: false,
                  tooltip: {confine: true, formatter: function (p) { return ch.tips[p.dataIndex]; }},
                  grid: {left: Math.min(260, 20 + longest * 7), right: 110, top: 40, bottom: 10},
                  xAxis: {type: 'category', data: ch.cols, position: 'top', splitArea: {show: true}},
                  yAxis: {type: 'category', data: ch.rows, inverse: true, splitArea: {show: true}},
                  visualMap: {type: 'continuous', min: %FLOOR%, max: %CEIL%, orient: 'vertical', right: 10, top: 'middle',
                    text: ['≥ 10', 'equal'], calculable: false,
                    formatter: function (v) { return '1e' + Math.round(v); },
                    inRange: {color: ['#eeeeee', '#ffffb2', '#fecc5c', '#fd8d3c', '#f03b20', '#bd0026']}},
                  series: [{type: 'heatmap', data: ch.cells, progressive: 0,
                    itemStyle: {borderColor: '#fff', borderWidth: 1},
                    emphasis: {itemStyle: {borderColor: '#000', borderWidth: 1}}}]
                });
                window.addEventListener('resize', function () { chart.resize(); });
              });
              if (data.charts.length === 0) { document.body.setAttribute('data-charts-rendered', '0'); }
              note();
            })();
            """.replace("%FLOOR%", Double.toString(FLOOR)).replace("%CEIL%", Double.toString(CEIL));
}
