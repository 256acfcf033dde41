package dev.joule.bench;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;

import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.nightly.NightlyJob;
import dev.joule.jobs.report.EnergySummary;
import io.delta.tables.DeltaTable;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * The nightly benchmark: on one table, in one run, a night at 1 % churn (0.6 % inserted, 0.3 %
 * updated, 0.1 % deleted) against {@code --full} of the same night on the same output tables.
 * Prints wall and process-CPU seconds, estimated joules split into the run's fixed part and its
 * per-scored-row part, where the time went, and the ratios.
 *
 * <p>Usage: {@code bench/run-nightly.sh [--rows N] [--dim D] [--deletion-vectors true|false]}.
 */
public final class NightlyBench {

  private NightlyBench() {}

  record Night(String name, NightlyJob.Result r, double wallS, double cpuS) {}

  public static void main(String[] args) throws IOException {
    long rows = 500_000;
    int dim = 384;
    String dv = "true";
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--rows" -> rows = Long.parseLong(args[i + 1]);
        case "--dim" -> dim = Integer.parseInt(args[i + 1]);
        case "--deletion-vectors" -> dv = args[i + 1];
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Path dir = Path.of("bench", "target", "nightly-bench").toAbsolutePath();
    deleteTree(dir);
    String source = dir.resolve("source").toString();
    List<String> sets = new ArrayList<>(List.of("spark.master=local[2]", "spark.ui=false",
        "spark.conf.\"spark.sql.warehouse.dir\"=\"" + dir.resolve("warehouse") + "\"",
        "nightly.source=" + source, "nightly.model=" + dir.resolve("gen/teacher-model.json"),
        "nightly.output=" + dir.resolve("out"), "nightly.deletion-vectors=" + dv));
    JouleConfig config = JouleConfig.load(null, sets);
    SparkSession spark = JouleSpark.session(config, "joule nightly bench");
    try {
      long n = rows;
      System.out.printf(Locale.ROOT, "generating %,d x %d rows...%n", n, dim);
      GenerateJob.Output gen = new GenerateJob(spark).run(new GenerateJob.Request(
          n + n / 100, dim, 10, dir.resolve("gen").toString(), "array", 42, 0.3));
      spark.read().format("delta").load(gen.embeddings()).filter(col("id").lt(n)).select("id", "embedding")
          .write().format("delta").option("delta.enableChangeDataFeed", "true").save(source);
      LocalDate d1 = LocalDate.parse("2026-11-01");
      Night first = night(spark, config, "night 1 (first, full)", d1, false);

      // 1 % churn: 0.6 % new rows, 0.3 % updated, 0.1 % deleted.
      spark.read().format("delta").load(gen.embeddings()).filter(col("id").geq(n).and(col("id").lt(n + n * 6 / 1000)))
          .select("id", "embedding").write().format("delta").mode("append").save(source);
      DeltaTable t = DeltaTable.forPath(spark, source);
      t.update(expr("id % 1000 < 3 AND id < " + n), Map.of("embedding", expr("transform(embedding, x -> -x)")));
      t.delete(expr("id % 1000 = 500 AND id < " + n));

      LocalDate d2 = d1.plusDays(1);
      Night incremental = night(spark, config, "night 2, incremental", d2, false);
      Night full = night(spark, config, "night 2, --full", d2, true);
      report(dir, n, dim, dv, List.of(first, incremental, full), incremental, full);
    } finally {
      spark.stop();
    }
  }

  static Night night(SparkSession spark, JouleConfig config, String name, LocalDate d, boolean full) {
    long cpu0 = processCpu();
    long t0 = System.nanoTime();
    NightlyJob.Result r = new NightlyJob(spark, config).run(new NightlyJob.Request(d, full, false));
    Night night = new Night(name, r, (System.nanoTime() - t0) / 1e9, (processCpu() - cpu0) / 1e9);
    System.out.printf(Locale.ROOT, "%s: %s scan, %,d rows scored, %.1f s wall, %.1f s CPU%n", name,
        r.scanMode(), r.scored(), night.wallS(), night.cpuS());
    return night;
  }

  static void report(Path dir, long n, int dim, String dv, List<Night> nights, Night inc, Night full) throws IOException {
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT, "Nightly benchmark, %s, %,d source rows x %d dims, int8 softmax head, local[2], "
        + "predictions with deletion vectors: %s. One run, one machine; energy is estimated_cputime (no RAPL/NVML): "
        + "joule ratios are CPU-time ratios.%n%n", LocalDate.now(), n, dim, dv));
    s.append("| night | scan | rows scored | rows deleted | wall s | process CPU s | est. J, partition tasks | est. J, fixed (outside tasks) | est. J per scored row (tasks) |\n");
    s.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (Night x : nights) {
      EnergySummary e = x.r().score().energy();
      s.append(String.format(Locale.ROOT, "| %s | %s | %,d | %,d | %.1f | %.1f | %.2f [%.2f-%.2f] | %.2f | %.2e |%n",
          x.name(), x.r().scanMode(), x.r().scored(), x.r().deleted(), x.wallS(), x.cpuS(), e.estimatedJ(),
          e.estimatedLowJ(), e.estimatedHighJ(), e.fixedEstimatedJ(), e.estimatedJ() / Math.max(1, x.r().scored())));
    }
    s.append("\nWhere the time went (seconds):\n\n| night | ");
    List<String> phases = new ArrayList<>(inc.r().phaseNanos().keySet());
    s.append(String.join(" | ", phases)).append(" |\n| --- |").append(" --- |".repeat(phases.size())).append('\n');
    for (Night x : List.of(inc, full)) {
      s.append("| ").append(x.name());
      for (String p : phases) {
        s.append(String.format(Locale.ROOT, " | %.1f", x.r().phaseNanos().getOrDefault(p, 0L) / 1e9));
      }
      s.append(" |\n");
    }
    EnergySummary ei = inc.r().score().energy();
    EnergySummary ef = full.r().score().energy();
    double ji = ei.estimatedJ() + ei.fixedEstimatedJ();
    double jf = ef.estimatedJ() + ef.fixedEstimatedJ();
    s.append(String.format(Locale.ROOT, "%nRatios, --full / incremental: process CPU %.1fx, wall %.1fx, "
        + "estimated J (tasks + fixed) %.1fx (a CPU-time ratio).%n", full.cpuS() / inc.cpuS(), full.wallS() / inc.wallS(), jf / ji));
    // Two-point fit over the two nights of the same table: cost = a + b x rows scored. b is the
    // all-in marginal cost of a row (reading, scoring, merging); a is what a night costs anyway.
    double b = (jf - ji) / Math.max(1, full.r().scored() - inc.r().scored());
    double a = ji - b * inc.r().scored();
    double churn = (double) inc.r().scored() / Math.max(1, full.r().scored());
    // A night at this churn is 20x cheaper than --full when a + N b >= 20 (a + churn N b).
    double breakEven = 19 * a / (b * (1 - 20 * churn));
    s.append(String.format(Locale.ROOT, "%nA night costs about a + b x rows scored (fit over the two nights, estimated): "
        + "a = %.0f J fixed (planning, change-data read, commits), b = %.2e J per scored row (reading, scoring, merging). "
        + "At %.1f %% churn a night is 20x cheaper than --full from about %,.0f source rows.%n", a, b, 100 * churn,
        breakEven > 0 ? breakEven : Double.NaN));
    System.out.print("\n" + s);
    Path out = Path.of("bench", "target", "nightly-bench.md");
    Files.writeString(out, s.toString());
    System.out.println("\nwritten: " + out);
  }

  static long processCpu() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  static void deleteTree(Path p) throws IOException {
    if (Files.exists(p)) {
      try (var w = Files.walk(p)) {
        w.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }
}
