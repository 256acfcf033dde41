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

  /** A kernel's place in the precision comparison. */
  public record Point(String kernel, String runId, double joulesPer1k, String method,
      double agreement, String agreementAgainst, long rowsCompared) {}

  /** One run's partitions, from its energy_log rows. */
  public record RunPartitions(ScoreResult run, List<Row> energyRows) {}

  private ReportHtml() {}

  public static String render(String source, ClaimCard card, List<RunPartitions> runs, List<Point> points,
      String generatedAt) {
    StringBuilder h = new StringBuilder(64 * 1024);
    ScoreResult cand = runs.get(runs.size() - 1).run();
    boolean measured = runs.stream().anyMatch(r -> r.run().energy().measured());
    h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        .append("<title>Joule report: ").append(esc(cand.runId())).append("</title>\n")
        .append("<style>\n").append(CSS).append("</style>\n</head>\n<body>\n");
    h.append("<h1>Joule report</h1>\n<p class=\"lead\">").append(esc(card.toMap().get("claim").toString()))
        .append(". Tables read from <code>").append(esc(source)).append("</code>; written ")
        .append(esc(generatedAt)).append(".</p>\n");
    h.append("<p class=\"note\">").append(measured
        ? "Figures labelled <code>measured_*</code> are measured energy (RAPL or NVML, shared among concurrent "
            + "partitions as the method says). Everything else is estimated or modelled, as labelled."
        : "Nothing in this report is measured energy: these runs' partitions have no measured figure (no "
            + "readable RAPL or NVML where they ran, or <code>joule.energy.meter = estimate</code>). "
            + "<code>estimated_cputime</code> figures are thread CPU time &times; an assumed power band, so their "
            + "ratios are CPU-time ratios; <code>modelled_ops_bytes</code> figures are relative.")
        .append("</p>\n");

    h.append("<h2 id=\"card\">Claim card</h2>\n<pre class=\"card\">").append(esc(card.toText())).append("</pre>\n");
    h.append("<details><summary>Every field of the card (click to open)</summary>\n<table class=\"fields\">\n")
        .append("<tr><th>field</th><th>value</th></tr>\n");
    flatten("", card.toMap(), h);
    h.append("</table>\n</details>\n");

    h.append("<h2 id=\"partitions\">Energy per 1,000 rows, per partition</h2>\n");
    for (RunPartitions r : runs) {
      h.append("<h3>").append(esc(r.run().kernel())).append(" &middot; run <code>").append(esc(r.run().runId()))
          .append("</code></h3>\n");
      h.append(svg(partitionEnergyChart(r)));
      h.append(partitionEnergyTable(r));
    }

    h.append("<h2 id=\"precisions\">Precision comparison</h2>\n");
    h.append("<p>Each kernel's latest committed run on the same input and model in this folder: energy per "
        + "1,000 rows against top-1 agreement with the fp32 run.</p>\n");
    if (points.stream().anyMatch(p -> !Double.isNaN(p.agreement()))) {
      h.append(svg(precisionChart(points)));
    } else {
      h.append("<p class=\"note\">No fp32 run of the same input and model in this folder, so no agreement to plot.</p>\n");
    }
    h.append("<table>\n<tr><th>kernel</th><th>run</th><th>J per 1k rows</th><th>method</th>"
        + "<th>top-1 agreement</th><th>against</th><th>rows compared</th></tr>\n");
    for (Point p : points) {
      h.append("<tr><td>").append(esc(p.kernel())).append("</td><td><code>").append(esc(p.runId()))
          .append("</code></td><td class=\"num\">").append(joules(p.joulesPer1k())).append("</td><td>")
          .append(method(p.method())).append("</td><td class=\"num\">")
          .append(Double.isNaN(p.agreement()) ? "n/a" : String.format(Locale.ROOT, "%.3f %%", 100 * p.agreement()))
          .append("</td><td>").append(esc(p.agreementAgainst())).append("</td><td class=\"num\">")
          .append(p.rowsCompared() > 0 ? String.format(Locale.ROOT, "%,d", p.rowsCompared()) : "")
          .append("</td></tr>\n");
    }
    h.append("</table>\n");

    h.append("<h2 id=\"time\">Wall and CPU time per partition</h2>\n");
    for (RunPartitions r : runs) {
      h.append("<h3>").append(esc(r.run().kernel())).append("</h3>\n").append(svg(timeChart(r)));
      h.append(timeTable(r));
    }

    h.append("<h2 id=\"methods\">How each figure was obtained</h2>\n<dl>\n")
        .append("<dt><code>estimated_cputime</code></dt><dd>thread CPU seconds &times; watts per busy vCPU "
            + "(low / typical / high from the hardware profile), plus DRAM W/GB &times; GB attributed &times; wall "
            + "seconds. A ratio of two is a CPU-time ratio.</dd>\n")
        .append("<dt><code>modelled_ops_bytes</code></dt><dd>counted multiply-accumulates, quantized values and "
            + "bytes &times; per-op and per-byte energies (Horowitz, ISSCC 2014, 45 nm). Relative only.</dd>\n")
        .append("<dt><code>measured_rapl</code></dt><dd>RAPL package and DRAM counters read at each partition's "
            + "start and end; shared by thread CPU time (<code>cpu_time_share</code>), the rest recorded as "
            + "<code>unattributed</code>.</dd>\n")
        .append("<dt><code>measured_nvml</code></dt><dd>NVML GPU total-energy counters, shared by rows.</dd>\n")
        .append("</dl>\n</body>\n</html>\n");
    return h.toString();
  }

  private static final String CSS = """
      body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #1d1d1f; }
      h1 { margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
      .lead { font-size: 1.1em; } .note { background: #fff7e0; border-left: 4px solid #e0a800; padding: .6em .9em; }
      pre.card { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: 12.5px; }
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

  private static CategoryChart partitionEnergyChart(RunPartitions r) {
    String method = mainMethod(r.energyRows());
    List<String> x = new ArrayList<>();
    List<Double> typical = new ArrayList<>();
    List<Double> low = new ArrayList<>();
    List<Double> high = new ArrayList<>();
    for (Row p : sorted(r.energyRows())) {
      double rows = Math.max(1, p.<Long>getAs("rows_scored"));
      double[] j = joules(p, method);
      x.add("p" + p.<Integer>getAs("partition_id"));
      low.add(j[1] / rows * 1000);
      typical.add(j[0] / rows * 1000);
      high.add(j[2] / rows * 1000);
    }
    CategoryChart c = new CategoryChartBuilder().width(900).height(360)
        .title(r.run().kernel() + ": J per 1k rows per partition (" + method + ")")
        .xAxisTitle("partition").yAxisTitle("J per 1k rows").build();
    if (method.startsWith("measured")) {
      c.addSeries(method, x, typical);
    } else {
      c.addSeries("low", x, low);
      c.addSeries(method, x, typical);
      c.addSeries("high", x, high);
    }
    return c;
  }

  private static String partitionEnergyTable(RunPartitions r) {
    StringBuilder t = new StringBuilder("<table>\n<tr><th>partition</th><th>executor</th><th>node</th><th>rows</th>"
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
    return t.append("</table>\n").toString();
  }

  private static XYChart precisionChart(List<Point> points) {
    XYChart c = new XYChartBuilder().width(900).height(380)
        .title("J per 1k rows against top-1 agreement with fp32")
        .xAxisTitle("top-1 agreement with fp32 (%)").yAxisTitle("J per 1k rows").build();
    c.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
    c.getStyler().setMarkerSize(12);
    c.getStyler().setYAxisMin(0.0);
    c.getStyler().setYAxisDecimalPattern("0.####");
    c.getStyler().setXAxisDecimalPattern("0.##");
    for (Point p : points) {
      if (!Double.isNaN(p.agreement())) {
        c.addSeries(p.kernel() + " (" + p.method() + ")", new double[] {100 * p.agreement()},
            new double[] {p.joulesPer1k()});
      }
    }
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
        .title(r.run().kernel() + ": time per partition").xAxisTitle("partition").yAxisTitle("ms").build();
    c.addSeries("wall", x, wall);
    c.addSeries("task thread CPU", x, cpu);
    c.addSeries("kernel CPU", x, kernel);
    return c;
  }

  private static String timeTable(RunPartitions r) {
    StringBuilder t = new StringBuilder("<table>\n<tr><th>partition</th><th>rows</th><th>wall ms</th>"
        + "<th>task thread CPU ms</th><th>kernel CPU ms</th><th>GC ms (JVM)</th><th>concurrent tasks</th></tr>\n");
    for (Row p : sorted(r.energyRows())) {
      t.append(String.format(Locale.ROOT, "<tr><td>p%d</td><td class=\"num\">%,d</td><td class=\"num\">%.1f</td>"
              + "<td class=\"num\">%.1f</td><td class=\"num\">%.1f</td><td class=\"num\">%.1f</td><td class=\"num\">%d</td></tr>%n",
          p.<Integer>getAs("partition_id"), p.<Long>getAs("rows_scored"), p.<Long>getAs("wall_ns") / 1e6,
          p.<Long>getAs("thread_cpu_ns") / 1e6, p.<Long>getAs("kernel_cpu_ns") / 1e6, p.<Long>getAs("gc_ns_jvm") / 1e6,
          p.<Integer>getAs("concurrent_tasks")));
    }
    return t.append("</table>\n<p class=\"method\">time: measured by the JVM (wall clock, thread CPU time); not energy</p>\n")
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
