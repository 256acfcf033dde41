package dev.joule.jobs.report;

import dev.joule.jobs.score.ScoreResult;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.VectorGraphicsEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;

/**
 * The run report as one self-contained HTML file: the claim card (text and every field), energy
 * per 1k rows per partition, the precision comparison, and wall and CPU time per partition. Charts
 * are XChart drawings inlined as SVG; there is no script and nothing is fetched, so it opens the
 * same offline, in a mail attachment or in a browser with no network. Every figure has its method
 * beside it.
 */
public final class ReportHtml {

  /**
   * A kernel's place in the precision comparison.
   *
   * @param gateBar the agreement its quality gate required; NaN where no gate checked it
   */
  public record Point(String kernel, String runId, double joulesPer1k, double joulesPer1kLow, double joulesPer1kHigh,
      String method, double agreement, String agreementAgainst, long rowsCompared, double gateBar) {}

  /** One run's partitions, from its energy_log rows; {@code label} names its kernel and whether it read codes. */
  public record RunPartitions(ScoreResult run, String label, List<Row> energyRows) {}

  /** One night of a nightly output folder, for the trend. */
  public record Night(String runId, java.sql.Timestamp finishedAt, long rowsScored, long rowsDeleted,
      double estimatedJ, double fixedJ, double agreement, String gate, String changes) {}

  private ReportHtml() {}

  public static String render(String source, List<ClaimCard> cards, List<RunPartitions> runs, List<Point> points,
      List<Night> nights, String generatedAt) {
    StringBuilder h = new StringBuilder(64 * 1024);
    RunPartitions last = runs.get(runs.size() - 1);
    boolean measured = runs.stream().anyMatch(r -> r.run().energy().measured());
    h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        .append("<title>Joule report: ").append(esc(last.run().runId())).append("</title>\n")
        .append("<style>\n").append(CSS).append("</style>\n</head>\n<body>\n");
    h.append("<h1>Joule report</h1>\n");
    h.append("<div class=\"headline\">\n");
    for (ClaimCard c : cards) {
      h.append("<p>").append(esc(c.headline())).append("</p>\n");
    }
    h.append("</div>\n");
    for (ClaimCard c : cards) {
      @SuppressWarnings("unchecked")
      List<String> warnings = (List<String>) c.toMap().getOrDefault("warnings", List.of());
      for (String w : warnings) {
        String who = c.quality() != null ? c.quality().candidateKernel() : c.candidate().kernel();
        h.append("<p class=\"warn\"><b>Warning</b> (").append(esc(who)).append("): ")
            .append(esc(w)).append("</p>\n");
      }
      if (c.baseline() != null) {
        h.append("<p class=\"lead\">").append(esc(c.toMap().get("claim").toString())).append(".</p>\n");
      }
    }
    h.append("<p>Tables read from <code>").append(esc(source)).append("</code>; written ").append(esc(generatedAt))
        .append(".</p>\n");
    h.append("<p class=\"note\">").append(measured
        ? "Figures labelled <code>measured_*</code> are measured energy (RAPL or NVML, shared among concurrent "
            + "partitions as the method says). Everything else is estimated or modelled, as labelled."
        : "Nothing in this report is measured energy: these runs' partitions have no measured figure (no "
            + "readable RAPL or NVML where they ran, or <code>joule.energy.meter = estimate</code>). "
            + "<code>estimated_cputime</code> figures are thread CPU time &times; an assumed power band and DRAM "
            + "background share, plus bytes moved &times; DRAM energy per byte; <code>modelled_ops_bytes</code> "
            + "figures are relative.")
        .append("</p>\n");

    h.append("<h2 id=\"size\">What a run of your size costs</h2>\n");
    h.append(costTable(runs));

    h.append("<h2 id=\"card\">Claim card").append(cards.size() > 1 ? "s" : "").append("</h2>\n");
    for (ClaimCard c : cards) {
      h.append("<pre class=\"card\">").append(esc(c.toText())).append("</pre>\n");
    }
    for (ClaimCard c : cards) {
      h.append("<details><summary>Every field of the card").append(cards.size() > 1
          ? " for " + esc(c.candidate().kernel()) + " (run " + esc(c.candidate().runId()) + ")" : "")
          .append(" (click to open)</summary>\n<table class=\"fields\">\n<tr><th>field</th><th>value</th></tr>\n");
      flatten("", c.toMap(), h);
      h.append("</table>\n</details>\n");
    }

    h.append("<h2 id=\"precisions\">Precision comparison</h2>\n");
    h.append("<p>Each kernel's latest committed run on the same rows and model in these folders (a codes table "
        + "counts as the rows it was quantized from): estimated energy per 1,000 rows, with its low&ndash;high "
        + "bounds as error bars, against top-1 agreement with the fp32 run. The dashed line is the quality gate's "
        + "bar.</p>\n");
    if (points.stream().anyMatch(p -> !Double.isNaN(p.agreement()) && !Double.isNaN(p.joulesPer1k()))) {
      h.append(svg(precisionChart(points)));
    } else {
      h.append("<p class=\"note\">No fp32 run of the same rows and model in these folders, so no agreement to "
          + "plot.</p>\n");
    }
    h.append("<div class=\"scroll\"><table>\n<tr><th>kernel</th><th>run</th><th>J per 1k rows</th><th>low &ndash; high</th>"
        + "<th>method</th><th>top-1 agreement</th><th>gate bar</th><th>against</th><th>rows compared</th></tr>\n");
    for (Point p : points) {
      h.append("<tr><td>").append(esc(p.kernel())).append("</td><td><code>").append(esc(p.runId()))
          .append("</code></td><td class=\"num\">").append(joules(p.joulesPer1k())).append("</td><td class=\"num\">")
          .append(joules(p.joulesPer1kLow())).append(" &ndash; ").append(joules(p.joulesPer1kHigh()))
          .append("</td><td>").append(method(p.method())).append("</td><td class=\"num\">")
          .append(Double.isNaN(p.agreement()) ? "n/a" : String.format(Locale.ROOT, "%.3f %%", 100 * p.agreement()))
          .append("</td><td class=\"num\">")
          .append(Double.isNaN(p.gateBar()) ? "" : String.format(Locale.ROOT, "%.2f %%", 100 * p.gateBar()))
          .append("</td><td>").append(esc(p.agreementAgainst())).append("</td><td class=\"num\">")
          .append(p.rowsCompared() > 0 ? String.format(Locale.ROOT, "%,d", p.rowsCompared()) : "")
          .append("</td></tr>\n");
    }
    h.append("</table></div>\n");

    if (!nights.isEmpty()) {
      h.append("<h2 id=\"nights\">Night by night</h2>\n");
      h.append(svg(nightChart(nights)));
      h.append(nightTable(nights));
    }

    h.append("<h2 id=\"partitions\">Energy per 1,000 rows, per partition</h2>\n");
    for (RunPartitions r : runs) {
      h.append("<h3>").append(esc(r.label())).append(" &middot; run <code>").append(esc(r.run().runId()))
          .append("</code></h3>\n");
      if (r.energyRows().stream().anyMatch(p -> p.<Long>getAs("rows_scored") > 0)) {
        h.append(svg(partitionEnergyChart(r)));
      } else {
        h.append("<p class=\"note\">").append(noRowsScored(r)).append("</p>\n");
      }
      if (!r.energyRows().isEmpty()) {
        h.append(partitionEnergyTable(r));
      }
    }

    h.append("<h2 id=\"time\">Wall and CPU time per partition</h2>\n");
    for (RunPartitions r : runs) {
      h.append("<h3>").append(esc(r.label())).append("</h3>\n");
      if (r.energyRows().isEmpty()) {
        h.append("<p class=\"note\">").append(noRowsScored(r)).append("</p>\n");
        continue;
      }
      h.append(svg(timeChart(r))).append(timeTable(r));
    }

    h.append("<h2 id=\"methods\">How each figure was obtained</h2>\n<dl>\n")
        .append("<dt><code>estimated_cputime</code></dt><dd>three labelled parts: <b>cpu</b>, thread CPU seconds "
            + "&times; watts per busy vCPU (low / typical / high from the hardware profile); <b>dram_background</b>, "
            + "thread CPU seconds &times; the machine's installed memory per vCPU &times; DRAM W/GB (not the JVM's "
            + "heap, not wall time); <b>dram_traffic</b>, bytes read, sent and written &times; DRAM energy per byte "
            + "(Horowitz's band). The first two follow CPU time, so a ratio of two estimates is the CPU-time ratio "
            + "up to the traffic term; the card prints both.</dd>\n")
        .append("<dt><code>modelled_ops_bytes</code></dt><dd>counted multiply-accumulates, quantized values and "
            + "bytes &times; per-op and per-byte energies (Horowitz, ISSCC 2014, 45 nm). Relative only.</dd>\n")
        .append("<dt><code>measured_rapl</code></dt><dd>RAPL package and DRAM counters read at each partition's "
            + "start and end; shared by thread CPU time (<code>cpu_time_share</code>), the rest recorded as "
            + "<code>unattributed</code>.</dd>\n")
        .append("<dt><code>measured_nvml</code></dt><dd>The accelerator node's NVML GPU total-energy counter, read around each batch, shared by rows; the idle draw apart (<code>gpu_idle</code>).</dd>\n")
        .append("<dt>fixed per run</dt><dd>process CPU outside partition tasks (planning, Spark jobs' drivers, "
            + "commits) &times; the same watts per busy vCPU; paid once per run whatever its size.</dd>\n")
        .append("</dl>\n</body>\n</html>\n");
    return h.toString();
  }

  private static String noRowsScored(RunPartitions r) {
    ScoreResult s = r.run();
    if (s.rowsIn() == 0) {
      return "No rows came in (for a night: no changes since the last one), so no partition was scored; the run's "
          + "cost is its fixed part (" + esc(ClaimCard.j(s.energy().fixedEstimatedJ())) + ", estimated_cputime).";
    }
    return String.format(Locale.ROOT, "No row was scored: all %,d rows in were rejected (see the rejects table for "
        + "each row's reason).", s.rowsIn());
  }

  /** Fixed vs per-row cost of each run, and what runs of other sizes would cost at the same rates. */
  private static String costTable(List<RunPartitions> runs) {
    long[] sizes = {10_000L, 1_000_000L, 100_000_000L};
    StringBuilder t = new StringBuilder("<p>A run costs a fixed part (start-up, planning, commits) plus a part per "
        + "row. At the rates these runs showed (estimated_cputime, typical):</p>\n<div class=\"scroll\"><table>\n"
        + "<tr><th>run</th><th>fixed per run</th><th>per row</th><th>this run</th><th>fixed share</th>");
    for (long n : sizes) {
      t.append(String.format(Locale.ROOT, "<th>%s rows</th>", n >= 1_000_000 ? (n / 1_000_000) + "M" : (n / 1000) + "k"));
    }
    t.append("</tr>\n");
    for (RunPartitions r : runs) {
      EnergySummary e = r.run().energy();
      double fixed = e.fixedEstimatedJ();
      double perRow = r.run().rowsScored() == 0 ? Double.NaN : e.estimatedJ() / r.run().rowsScored();
      double total = fixed + e.estimatedJ();
      t.append("<tr><td>").append(esc(r.label())).append("</td><td class=\"num\">").append(joules(fixed))
          .append("</td><td class=\"num\">").append(joules(perRow)).append("</td><td class=\"num\">")
          .append(joules(total)).append(String.format(Locale.ROOT, " (%,d rows)", r.run().rowsScored()))
          .append("</td><td class=\"num\">")
          .append(total > 0 ? String.format(Locale.ROOT, "%.0f %%", 100 * fixed / total) : "n/a").append("</td>");
      for (long n : sizes) {
        double at = fixed + n * perRow;
        t.append("<td class=\"num\">").append(Double.isNaN(perRow) ? "n/a" : joules(at)
            + String.format(Locale.ROOT, " (%.0f %% fixed)", 100 * fixed / at)).append("</td>");
      }
      t.append("</tr>\n");
    }
    return t.append("</table></div>\n<p class=\"method\">estimated_cputime; sizes other than this run's scale its "
        + "per-row rate linearly</p>\n").toString();
  }

  private static XYChart nightChart(List<Night> nights) {
    XYChart c = new XYChartBuilder().width(900).height(340).title("Each night: rows scored and estimated energy")
        .xAxisTitle("night").yAxisTitle("").build();
    c.getStyler().setYAxisGroupPosition(1, org.knowm.xchart.style.Styler.YAxisPosition.Right);
    c.getStyler().setMarkerSize(8);
    c.getStyler().setXAxisDecimalPattern("0");
    double[] x = new double[nights.size()];
    double[] rows = new double[nights.size()];
    double[] joules = new double[nights.size()];
    for (int i = 0; i < nights.size(); i++) {
      x[i] = i + 1;
      rows[i] = nights.get(i).rowsScored();
      joules[i] = nights.get(i).estimatedJ() + nights.get(i).fixedJ();
    }
    c.addSeries("rows scored (left axis)", x, rows);
    XYSeries j = c.addSeries("estimated J, tasks + fixed (right axis)", x, joules);
    j.setYAxisGroup(1);
    if (nights.size() == 1) { // one night: give the axis room around it
      c.getStyler().setXAxisMin(0.0);
      c.getStyler().setXAxisMax(2.0);
    }
    c.setYAxisGroupTitle(0, "rows scored");
    c.setYAxisGroupTitle(1, "J (estimated_cputime)");
    c.getStyler().setYAxisMin(0, 0.0);
    c.getStyler().setYAxisMin(1, 0.0);
    return c;
  }

  private static String nightTable(List<Night> nights) {
    StringBuilder t = new StringBuilder("<div class=\"scroll\"><table>\n<tr><th>night</th><th>finished</th><th>run</th>"
        + "<th>rows scored</th><th>rows deleted</th><th>estimated J (tasks + fixed)</th><th>gate agreement</th>"
        + "<th>what changed</th></tr>\n");
    for (int i = 0; i < nights.size(); i++) {
      Night n = nights.get(i);
      t.append(String.format(Locale.ROOT, "<tr><td class=\"num\">%d</td><td>%s</td><td><code>%s</code></td>"
              + "<td class=\"num\">%,d</td><td class=\"num\">%,d</td><td class=\"num\">%s</td><td class=\"num\">%s</td>"
              + "<td>%s</td></tr>%n", i + 1, esc(String.valueOf(n.finishedAt())), esc(n.runId()), n.rowsScored(),
          n.rowsDeleted(), joules(n.estimatedJ() + n.fixedJ()),
          Double.isNaN(n.agreement()) ? "n/a" : String.format(Locale.ROOT, "%.3f %%", 100 * n.agreement()),
          esc(n.changes() == null ? "" : n.changes())));
    }
    return t.append("</table></div>\n").toString();
  }

  private static final String CSS = """
      body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #1d1d1f; }
      h1 { margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
      .lead { font-size: 1.05em; } .note { background: #fff7e0; border-left: 4px solid #e0a800; padding: .6em .9em; }
      .headline { background: #eef6ee; border-left: 5px solid #2e7d32; padding: .4em 1em; font-size: 1.15em; }
      .warn { background: #fdecea; border-left: 4px solid #c62828; padding: .5em .9em; }
      pre.card { background: #f6f8fa; padding: 1em; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; }
      .scroll { overflow-x: auto; }
      table { border-collapse: collapse; margin: 1em 0; font-size: 13.5px; }
      th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
      td.num { text-align: right; font-variant-numeric: tabular-nums; }
      table.fields td:first-child { font-family: ui-monospace, monospace; white-space: nowrap; }
      code { font-family: ui-monospace, monospace; font-size: .95em; }
      .method { font-family: ui-monospace, monospace; font-size: .9em; color: #555; }
      svg { max-width: 100%; height: auto; display: block; margin: .5em 0; }
      """;

  private static void flatten(String prefix, Object value, StringBuilder h) {
    if (value instanceof Map<?, ?> m) {
      for (Map.Entry<?, ?> e : m.entrySet()) {
        flatten(prefix.isEmpty() ? e.getKey().toString() : prefix + "." + e.getKey(), e.getValue(), h);
      }
    } else if (value instanceof List<?> l) {
      for (int i = 0; i < l.size(); i++) {
        flatten(prefix + "[" + i + "]", l.get(i), h);
      }
    } else {
      h.append("<tr><td>").append(esc(prefix)).append("</td><td>").append(esc(String.valueOf(value)))
          .append("</td></tr>\n");
    }
  }

  /** The run's main method: measured where its partitions have a measurement, else the estimate. */
  static String mainMethod(List<Row> energyRows) {
    for (Row r : energyRows) {
      for (Row f : r.<Row>getList(r.fieldIndex("energy"))) {
        if (f.getString(1).startsWith("measured")) {
          return f.getString(1);
        }
      }
    }
    return "estimated_cputime";
  }

  /**
   * A partition's joules by one method: cpu + dram (+ a remote node's, for the estimate), without
   * a measured counter's pooled rest (attribution {@code unattributed}), which only rides on the
   * row of whichever partition ended next.
   */
  static double[] joules(Row partition, String method) {
    return joules(partition, method, false);
  }

  static double[] joules(Row partition, String method, boolean restOnly) {
    double j = 0;
    double lo = 0;
    double hi = 0;
    for (Row f : partition.<Row>getList(partition.fieldIndex("energy"))) {
      if (f.getString(1).equals(method) && f.getString(2).equals("unattributed") == restOnly) {
        j += f.getDouble(3);
        lo += f.getDouble(4);
        hi += f.getDouble(5);
      }
    }
    return new double[] {j, lo, hi};
  }

  private static List<Row> sorted(List<Row> rows) {
    List<Row> s = new ArrayList<>(rows);
    s.sort((a, b) -> Integer.compare(a.<Integer>getAs("partition_id"), b.<Integer>getAs("partition_id")));
    return s;
  }

  /**
   * J per 1k rows of each partition that scored rows: one marker at the figure, with a whisker from
   * its low to its high bound where the method has bounds (XChart's error bars are symmetric, the
   * bounds are not, so each whisker is its own line series).
   */
  private static XYChart partitionEnergyChart(RunPartitions r) {
    String method = mainMethod(r.energyRows());
    XYChart c = new XYChartBuilder().width(900).height(340)
        .title(r.label() + ": J per 1k rows per partition (" + method + ")")
        .xAxisTitle("partition").yAxisTitle("J per 1k rows").build();
    c.getStyler().setYAxisMin(0.0);
    c.getStyler().setXAxisDecimalPattern("0");
    c.getStyler().setYAxisDecimalPattern("0.####");
    List<Double> x = new ArrayList<>();
    List<Double> typical = new ArrayList<>();
    int row = 0;
    for (Row p : sorted(r.energyRows())) {
      row++;
      long rowsScored = p.<Long>getAs("rows_scored");
      if (rowsScored == 0) {
        continue;
      }
      double[] j = joules(p, method);
      double px = p.<Integer>getAs("partition_id");
      x.add(px);
      typical.add(j[0] / rowsScored * 1000);
      if (!method.startsWith("measured") && j[2] > j[1]) {
        // Named by row: a retried partition can have two rows with one partition id.
        XYSeries whisker = c.addSeries("bounds " + row, new double[] {px, px},
            new double[] {j[1] / rowsScored * 1000, j[2] / rowsScored * 1000});
        whisker.setShowInLegend(false);
        whisker.setMarker(org.knowm.xchart.style.markers.SeriesMarkers.NONE);
        whisker.setLineColor(java.awt.Color.GRAY);
      }
    }
    XYSeries main = c.addSeries(method + (method.startsWith("measured") ? "" : " (typical; whisker: low-high)"), x, typical);
    main.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
    main.setMarker(org.knowm.xchart.style.markers.SeriesMarkers.CIRCLE);
    c.getStyler().setMarkerSize(10);
    if (x.size() == 1) { // one partition: give the axis room around it
      c.getStyler().setXAxisMin(x.get(0) - 1);
      c.getStyler().setXAxisMax(x.get(0) + 1);
    }
    return c;
  }

  private static String partitionEnergyTable(RunPartitions r) {
    StringBuilder t = new StringBuilder("<div class=\"scroll\"><table>\n<tr><th>partition</th><th>executor</th><th>node</th><th>rows</th>"
        + "<th>J per 1k rows</th><th>low &ndash; high</th><th>method</th><th>unattributed rest carried</th>"
        + "<th>modelled J per 1k rows</th><th>method</th></tr>\n");
    for (Row p : sorted(r.energyRows())) {
      double rows = Math.max(1, p.<Long>getAs("rows_scored"));
      List<String> methods = new ArrayList<>();
      for (Row f : p.<Row>getList(p.fieldIndex("energy"))) {
        if (!f.getString(1).startsWith("modelled") && !methods.contains(f.getString(1))) {
          methods.add(f.getString(1));
        }
      }
      double[] mod = joules(p, "modelled_ops_bytes");
      for (int i = 0; i < methods.size(); i++) {
        double[] j = joules(p, methods.get(i));
        t.append("<tr><td>").append(i == 0 ? "p" + p.getAs("partition_id") : "").append("</td><td>")
            .append(i == 0 ? esc(String.valueOf(p.<String>getAs("executor_id"))) : "").append("</td><td>")
            .append(i == 0 ? esc(String.valueOf(p.<String>getAs("node_id"))) : "").append("</td><td class=\"num\">")
            .append(i == 0 ? String.format(Locale.ROOT, "%,d", p.<Long>getAs("rows_scored")) : "")
            .append("</td><td class=\"num\">").append(joules(j[0] / rows * 1000)).append("</td><td class=\"num\">")
            .append(joules(j[1] / rows * 1000)).append(" &ndash; ").append(joules(j[2] / rows * 1000))
            .append("</td><td>").append(method(methods.get(i))).append("</td><td class=\"num\">")
            .append(methods.get(i).startsWith("measured") ? joules(joules(p, methods.get(i), true)[0]) : "")
            .append("</td><td class=\"num\">")
            .append(i == 0 ? joules(mod[0] / rows * 1000) : "").append("</td><td>")
            .append(i == 0 ? method("modelled_ops_bytes") : "").append("</td></tr>\n");
      }
    }
    return t.append("</table></div>\n").toString();
  }

  /**
   * Energy per 1k rows against agreement with fp32, each kernel a marker with its bounds as a
   * whisker, and the gate's bar as a dashed line; the agreement axis spans the points and the bar
   * with a margin, so neither sits on an edge.
   */
  static XYChart precisionChart(List<Point> points) {
    XYChart c = new XYChartBuilder().width(900).height(380)
        .title("J per 1k rows against top-1 agreement with fp32")
        .xAxisTitle("top-1 agreement with fp32 (%)").yAxisTitle("J per 1k rows (estimated_cputime)").build();
    c.getStyler().setMarkerSize(12);
    c.getStyler().setYAxisMin(0.0);
    c.getStyler().setYAxisDecimalPattern("0.####");
    c.getStyler().setXAxisDecimalPattern("0.##");
    double lo = 100;
    double yMax = 0;
    double bar = Double.NaN;
    for (Point p : points) {
      if (!Double.isNaN(p.agreement()) && !Double.isNaN(p.joulesPer1k())) {
        double x = 100 * p.agreement();
        lo = Math.min(lo, x);
        yMax = Math.max(yMax, Double.isNaN(p.joulesPer1kHigh()) ? p.joulesPer1k() : p.joulesPer1kHigh());
        XYSeries s = c.addSeries(p.kernel(), new double[] {x}, new double[] {p.joulesPer1k()});
        s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        if (p.joulesPer1kHigh() > p.joulesPer1kLow()) {
          XYSeries w = c.addSeries(p.kernel() + " bounds", new double[] {x, x},
              new double[] {p.joulesPer1kLow(), p.joulesPer1kHigh()});
          w.setShowInLegend(false);
          w.setMarker(org.knowm.xchart.style.markers.SeriesMarkers.NONE);
          w.setLineColor(java.awt.Color.GRAY);
        }
      }
      if (!Double.isNaN(p.gateBar())) {
        bar = Double.isNaN(bar) ? p.gateBar() : Math.max(bar, p.gateBar());
      }
    }
    if (!Double.isNaN(bar)) {
      lo = Math.min(lo, 100 * bar);
      XYSeries g = c.addSeries(String.format(Locale.ROOT, "quality gate bar %.2f %%", 100 * bar),
          new double[] {100 * bar, 100 * bar}, new double[] {0, Math.max(yMax, 1e-12) * 1.1});
      g.setMarker(org.knowm.xchart.style.markers.SeriesMarkers.NONE);
      g.setLineStyle(new java.awt.BasicStroke(2f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER, 10f,
          new float[] {8f, 6f}, 0f));
      g.setLineColor(new java.awt.Color(0xC6, 0x28, 0x28));
    }
    double span = Math.max(100 - lo, 0.5);
    c.getStyler().setXAxisMin(Math.max(0, lo - 0.25 * span));
    c.getStyler().setXAxisMax(100 + 0.1 * span);
    return c;
  }

  private static CategoryChart timeChart(RunPartitions r) {
    List<String> x = new ArrayList<>();
    List<Double> wall = new ArrayList<>();
    List<Double> cpu = new ArrayList<>();
    List<Double> kernel = new ArrayList<>();
    for (Row p : sorted(r.energyRows())) {
      x.add("p" + p.<Integer>getAs("partition_id"));
      wall.add(p.<Long>getAs("wall_ns") / 1e6);
      cpu.add(p.<Long>getAs("thread_cpu_ns") / 1e6);
      kernel.add(p.<Long>getAs("kernel_cpu_ns") / 1e6);
    }
    CategoryChart c = new CategoryChartBuilder().width(900).height(340)
        .title(r.label() + ": time per partition").xAxisTitle("partition").yAxisTitle("ms").build();
    c.addSeries("wall", x, wall);
    c.addSeries("task thread CPU", x, cpu);
    c.addSeries("kernel CPU", x, kernel);
    return c;
  }

  private static String timeTable(RunPartitions r) {
    StringBuilder t = new StringBuilder("<div class=\"scroll\"><table>\n<tr><th>partition</th><th>rows</th><th>wall ms</th>"
        + "<th>task thread CPU ms</th><th>kernel CPU ms</th><th>GC ms in the JVM during the task (shared by concurrent tasks)</th><th>concurrent tasks</th></tr>\n");
    for (Row p : sorted(r.energyRows())) {
      t.append(String.format(Locale.ROOT, "<tr><td>p%d</td><td class=\"num\">%,d</td><td class=\"num\">%.1f</td>"
              + "<td class=\"num\">%.1f</td><td class=\"num\">%.1f</td><td class=\"num\">%.1f</td><td class=\"num\">%d</td></tr>%n",
          p.<Integer>getAs("partition_id"), p.<Long>getAs("rows_scored"), p.<Long>getAs("wall_ns") / 1e6,
          p.<Long>getAs("thread_cpu_ns") / 1e6, p.<Long>getAs("kernel_cpu_ns") / 1e6, p.<Long>getAs("gc_ns_jvm") / 1e6,
          p.<Integer>getAs("concurrent_tasks")));
    }
    return t.append("</table></div>\n<p class=\"method\">time: measured by the JVM (wall clock, thread CPU time); not energy</p>\n")
        .toString();
  }

  /** The chart as inline SVG (XChart via VectorGraphics2D), without its XML prolog. */
  static String svg(Chart<?, ?> chart) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      VectorGraphicsEncoder.saveVectorGraphic(chart, out, VectorGraphicsEncoder.VectorGraphicsFormat.SVG);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    String s = out.toString(StandardCharsets.UTF_8);
    int start = s.indexOf("<svg");
    return (start < 0 ? s : s.substring(start)) + "\n";
  }

  private static String method(String m) {
    return "<span class=\"method\">" + esc(m) + "</span>";
  }

  /** Joules with a unit, as the claim card prints them. */
  static String joules(double j) {
    return esc(ClaimCard.j(j));
  }

  static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}
