package dev.joule.bench;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;

import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.mllib.TrainJob;
import dev.joule.jobs.nightly.NightlyJob;
import io.delta.tables.DeltaTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * The three terms of a night, measured as a user pays them: each night is its own fresh
 * {@code bin/joule nightly --profile} process, measured by {@code /usr/bin/time} (user + sys CPU,
 * JVM start to exit). Two tables (N and 2N rows), each at two churns (1 % and 10 %: below 1 % a
 * fresh process's JIT warm-up grows with the rows and passes for a per-row cost), give four nights;
 * a least-squares fit of night CPU = fixed + per changed row x changed rows + per table row x
 * table rows gives the terms. What grows with the table is the commit's scan for the rows it
 * replaces: its CPU per table row (its Spark job's task CPU from {@code --profile}, or, where
 * the driver reads the keys, the driver thread's CPU that the commit logs) is the per-table term
 * measured directly, which the fit cannot resolve at these sizes. The baseline is a full recompute with MLlib's
 * {@code LogisticRegressionModel.transform} of the 2N table in a fresh process (ProcessBench's
 * child), measured per row in the same run. The terms are then projected, labelled as a
 * projection, to 100M and 1B rows at 0.1 / 1 / 10 % churn.
 *
 * <p>Usage: {@code bench/run-nightly.sh --terms [--rows N] [--dim D] [--keep true] [--set KEY=VALUE ...]}
 * (each {@code --set} passed to every night's process); the script builds first
 * and runs the children with {@code JOULE_NO_BUILD=1}.
 */
public final class NightlyTermsBench {

  private NightlyTermsBench() {}

  /** One measured night: its process CPU and wall, and what it did (from its runs row). */
  record Measured(String name, long tableRows, long changed, long scored, long deleted, double cpuS, double wallS,
      double inProcessJ, int sparkJobs, double keyScanCpuS) {}

  public static void main(String[] args) throws Exception {
    long n = 1_000_000;
    int dim = 384;
    String root = ".";
    boolean keep = false; // --keep true: leave the tables for a look afterwards (tens of GB at 1M rows)
    List<String> sets = new ArrayList<>(); // --set KEY=VALUE: passed to every night (nightly.engine=spark, say)
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--set" -> sets.add(args[i + 1]);
        case "--rows" -> n = Long.parseLong(args[i + 1]);
        case "--dim" -> dim = Integer.parseInt(args[i + 1]);
        case "--root" -> root = args[i + 1];
        case "--keep" -> keep = Boolean.parseBoolean(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Path dir = Path.of(root, "bench", "target", "nightly-terms").toAbsolutePath();
    JouleConfig config = freshFolder(dir);
    SparkSession spark = JouleSpark.session(config, "joule nightly terms bench");
    try {
      long big = 2 * n;
      double[] churns = {1.0, 10.0};
      long spare = 10; // new rows for the four nights' inserts
      for (long size : new long[] {n, big}) {
        for (double c : churns) {
          spare += Math.round(size * c * 0.006);
        }
      }
      System.out.printf(Locale.ROOT, "generating %,d x %d rows...%n", big + spare, dim);
      Prepared prepared = prepare(spark, config, dir, big + spare, dim);
      GenerateJob.Output gen = prepared.gen();
      Path modelFile = prepared.modelFile();
      TrainJob.Result trained = prepared.trained();
      String[] sources = {dir.resolve("source-n").toString(), dir.resolve("source-2n").toString()};
      long[] sizes = {n, big};
      for (int s = 0; s < 2; s++) {
        source(spark, gen, sources[s], sizes[s]);
      }
      List<String> joule = new ArrayList<>(List.of(Path.of(root, "bin", "joule").toAbsolutePath().toString()));
      for (String kv : sets) {
        joule.addAll(List.of("--set", kv));
      }
      if (!sets.isEmpty()) {
        System.out.println("every night with --set " + String.join(" --set ", sets));
      }
      LocalDate d0 = LocalDate.parse("2026-11-01");
      // First nights (full scans, not fitted): they make the predictions tables of N and 2N rows.
      for (int s = 0; s < 2; s++) {
        Measured first = night(spark, joule, dir, sources[s], modelFile, d0, "first night, " + sizes[s] + " rows");
        System.out.printf(Locale.ROOT, "  %s: process CPU %.1f s, wall %.1f s%n", first.name(), first.cpuS(),
            first.wallS());
      }
      List<Measured> nights = new ArrayList<>();
      long nextInsert = big;
      for (int s = 0; s < 2; s++) {
        for (int c = 0; c < churns.length; c++) {
          long inserts = Math.round(sizes[s] * churns[c] * 0.006);
          churn(spark, gen.embeddings(), sources[s], sizes[s], churns[c], c, nextInsert, inserts);
          nextInsert += inserts;
          Measured m = night(spark, joule, dir, sources[s], modelFile, d0.plusDays(1 + c),
              String.format(Locale.ROOT, "%,d rows, %.1f %% churn", sizes[s], churns[c]));
          nights.add(m);
          System.out.printf(Locale.ROOT, "  %s: %,d changed, process CPU %.1f s, wall %.1f s, %d Spark jobs%n",
              m.name(), m.changed(), m.cpuS(), m.wallS(), m.sparkJobs());
        }
      }
      // The baseline: a full MLlib recompute of the 2N table, a fresh process as a user would run it.
      List<String> mllib = new ArrayList<>(ProcessBench.peerJava(root, "-Xmx4g"));
      mllib.addAll(List.of("mllib", sources[1], trained.mllibPath(), dir.resolve("mllib-out").toString(),
          Integer.toString(dim)));
      double[] ml = ProcessBench.timed(new ProcessBench.Variant("mllib", mllib), dir.resolve("time.txt"));
      long sourceRows = spark.read().format("delta").load(sources[1]).count();
      // A night of more changes than this runs with Spark, whichever engine is asked for.
      long driverLimit = JouleConfig.load(null, sets).longValue("score.driver-census-rows");
      report(dir, n, dim, nights, ml, sourceRows, wattsPerCpu(spark, dir, dim), driverLimit);
    } finally {
      spark.stop();
      if (!keep) {
        NightlyBench.deleteTables(dir);
      }
    }
  }

  /** The generated rows, and a logistic regression trained by MLlib on 20,000 of them (as a file and as MLlib's). */
  record Prepared(GenerateJob.Output gen, Path modelFile, TrainJob.Result trained) {}

  /** Generates {@code rows} x {@code dim} rows under {@code dir} and trains the nights' model on them. */
  static Prepared prepare(SparkSession spark, JouleConfig config, Path dir, long rows, int dim) {
    GenerateJob.Output gen = new GenerateJob(spark).run(new GenerateJob.Request(rows, dim, 10,
        dir.resolve("gen").toString(), "array", 42, 0.3));
    String train = dir.resolve("train-rows").toString();
    spark.read().format("delta").load(gen.embeddings()).limit(20_000).write().format("delta").save(train);
    Path modelFile = dir.resolve("model/lr.json");
    TrainJob.Result trained = new TrainJob(spark, config).run(new TrainJob.Request(train, "label", "lr", modelFile,
        null, 0, 0, 50, 1e-3, 42));
    return new Prepared(gen, modelFile, trained);
  }

  /** A source table of the first {@code n} generated rows (ids below n), with the change data feed on. */
  static void source(SparkSession spark, GenerateJob.Output gen, String path, long n) {
    spark.read().format("delta").load(gen.embeddings()).filter(col("id").lt(n)).select("id", "embedding")
        .write().format("delta").option("delta.enableChangeDataFeed", "true").save(path);
  }

  /** Empties {@code dir} (made if missing) and returns the harness's own settings, its warehouse in it. */
  static JouleConfig freshFolder(Path dir) throws IOException {
    NightlyBench.deleteTree(dir);
    Files.createDirectories(dir);
    return JouleConfig.load(null, List.of("spark.master=local[2]", "spark.ui=false", "progress=off",
        "spark.conf.\"spark.sql.warehouse.dir\"=\"" + dir.resolve("warehouse") + "\""));
  }

  /**
   * Round {@code round} of {@code churnPct} % churn on a table of {@code n} rows: 0.6 of it new
   * rows (ids from {@code firstNew}), 0.3 updated, 0.1 deleted, spread over every file.
   */
  static void churn(SparkSession spark, String generated, String source, long n, double churnPct, int round,
      long firstNew, long inserts) {
    long m = 100_000;
    long updated = Math.max(1, Math.round(m * churnPct * 0.003));
    long deleted = Math.max(1, Math.round(m * churnPct * 0.001));
    spark.read().format("delta").load(generated).filter(col("id").geq(firstNew).and(col("id").lt(firstNew + inserts)))
        .select("id", "embedding").write().format("delta").mode("append").save(source);
    DeltaTable t = DeltaTable.forPath(spark, source);
    long u0 = round * m / 4; // each round its own bands of ids
    t.update(expr("id % " + m + " >= " + u0 + " AND id % " + m + " < " + (u0 + updated) + " AND id < " + n),
        Map.of("embedding", expr("transform(embedding, x -> -x)")));
    long d0 = m / 2 + round * m / 4;
    t.delete(expr("id % " + m + " >= " + d0 + " AND id % " + m + " < " + (d0 + deleted) + " AND id < " + n));
  }

  /**
   * One night as a fresh {@code bin/joule nightly --profile} process; what it did is read from
   * its runs row, its Spark jobs and the commit's key scan CPU (its Spark job's task CPU from its
   * profile, or the driver's from its log) from what it printed.
   */
  static Measured night(SparkSession spark, List<String> joule, Path dir, String source, Path model, LocalDate date,
      String name) throws IOException, InterruptedException {
    return night(spark, joule, dir, source, source + "-out", model, date, name);
  }

  /** As above, into the output folder {@code out}. */
  static Measured night(SparkSession spark, List<String> joule, Path dir, String source, String out, Path model,
      LocalDate date, String name) throws IOException, InterruptedException {
    // The program, then the command and its settings, then the bench's --set options (last: they win).
    List<String> cmd = new ArrayList<>(joule.subList(0, 1));
    cmd.addAll(List.of("--profile", "nightly", "--date", date.toString(), "--set", "nightly.source=" + source,
        "--set", "nightly.model=" + model, "--set", "nightly.output=" + out, "--set", "progress=off"));
    cmd.addAll(joule.subList(1, joule.size()));
    Path log = dir.resolve("processes.log");
    long before = Files.exists(log) ? Files.size(log) : 0;
    double[] t = ProcessBench.timed(new ProcessBench.Variant(name, cmd), dir.resolve("time.txt"));
    byte[] all = Files.readAllBytes(log);
    String printed = new String(all, (int) before, all.length - (int) before, java.nio.charset.StandardCharsets.UTF_8);
    java.util.regex.Matcher jobs = java.util.regex.Pattern.compile("profile: (\\d+) Spark jobs").matcher(printed);
    int sparkJobs = jobs.find() ? Integer.parseInt(jobs.group(1)) : -1;
    double commitCpu = 0;
    java.util.regex.Matcher job = java.util.regex.Pattern.compile(
        "(?m)^\\s+\\d+\\s+\\d+\\s+\\d+\\s+([\\d.]+)\\s+\\S+\\s+commit predictions:").matcher(printed);
    while (job.find()) {
      commitCpu += Double.parseDouble(job.group(1));
    }
    // Where the commit found rows on the driver, in key indexes or by a key scan, its thread CPU
    // (KeyedUpsert's log line).
    java.util.regex.Matcher driverScan = java.util.regex.Pattern.compile(
        "(?:key index of \\d+ files|key scan on the driver): \\d+ rows, ([\\d.]+) ms CPU").matcher(printed);
    while (driverScan.find()) {
      commitCpu += Double.parseDouble(driverScan.group(1)) / 1e3;
    }
    Row run = spark.read().format("delta").load(out + "/runs").filter(col("status").equalTo("committed")
        .and(col("run_key").endsWith(":" + date))).head();
    long scored = run.<Long>getAs("rows_scored");
    long deleted = run.<Long>getAs("rows_deleted");
    long tableRows = run.<Long>getAs("source_rows");
    double j = run.<Double>getAs("estimated_joules") + run.<Double>getAs("fixed_estimated_joules");
    return new Measured(name, tableRows, scored + deleted, scored, deleted, t[1], t[0], j, sparkJobs, commitCpu);
  }

  /** The estimate's J per busy vCPU-second on this machine, from one small in-process night. */
  static double wattsPerCpu(SparkSession spark, Path dir, int dim) {
    String src = dir.resolve("probe-source").toString();
    spark.range(1000).selectExpr("id", "transform(sequence(1, " + dim + "), i -> CAST(rand() AS FLOAT)) AS embedding")
        .write().format("delta").save(src);
    JouleConfig c = JouleConfig.load(null, List.of("spark.master=local[2]", "progress=off", "nightly.source=" + src,
        "nightly.model=" + dir.resolve("model/lr.json"), "nightly.output=" + dir.resolve("probe-out"),
        "nightly.precision=fp32"));
    return new NightlyJob(spark, c).run(new NightlyJob.Request(LocalDate.parse("2026-11-01"), false, false))
        .score().energy().busyVcpuWattsTypical();
  }

  /** Least squares of cpu = f + p x changed + t x table rows, the projection and the report. */
  static void report(Path dir, long n, int dim, List<Measured> nights, double[] mllib, long mllibRows, double watts,
      long driverLimit)
      throws IOException {
    double[][] a = new double[nights.size()][];
    double[] y = new double[nights.size()];
    for (int i = 0; i < nights.size(); i++) {
      Measured m = nights.get(i);
      a[i] = new double[] {1, m.changed(), m.tableRows()};
      y[i] = m.cpuS();
    }
    double[] fit3 = leastSquares(a, y);
    // The table term is below the fit's resolution at these sizes, so it is measured directly,
    // as an upper bound: the CPU of the predictions commit's scan of the table's keys (its Spark
    // job's tasks, or the driver's thread) per table row. Fixed and per-changed-row terms are
    // then fitted to what is left.
    double perTable = nights.stream().mapToDouble(m -> m.keyScanCpuS() / m.tableRows()).average().orElse(0);
    double[][] a2 = new double[nights.size()][];
    double[] y2 = new double[nights.size()];
    for (int i = 0; i < nights.size(); i++) {
      a2[i] = new double[] {1, nights.get(i).changed()};
      y2[i] = y[i] - perTable * nights.get(i).tableRows();
    }
    double[] fit = leastSquares(a2, y2);
    double fixed = fit[0];
    double perChanged = fit[1];
    double mllibPerRow = mllib[1] / mllibRows;
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT, "Nightly terms, %s, int8 softmax head (MLlib-trained LR, %d dims), local[2]. "
        + "Each night a fresh `bin/joule nightly` process; CPU = user + sys of the whole process (/usr/bin/time), "
        + "JVM start to exit. Estimated J = CPU s x %.2f W per busy vCPU (this machine's estimate; no RAPL/NVML): "
        + "every J below is estimated, and every ratio a CPU-time ratio. Single runs.%n%n", LocalDate.now(), dim, watts));
    s.append("| night | table rows | changed rows (scored + deleted) | Spark jobs | process CPU s | wall s | fit CPU s | "
        + "commit's key scan CPU s | est. J in-process (runs row) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (Measured m : nights) {
      s.append(String.format(Locale.ROOT, "| %s | %,d | %,d | %d | %.1f | %.1f | %.1f | %.2f | %.0f |%n", m.name(),
          m.tableRows(), m.changed(), m.sparkJobs(), m.cpuS(), m.wallS(),
          fixed + perChanged * m.changed() + perTable * m.tableRows(), m.keyScanCpuS(), m.inProcessJ()));
    }
    s.append(String.format(Locale.ROOT, "| MLlib transform, full recompute | %,d | %,d (all) | | %.1f | %.1f | | | |%n%n",
        mllibRows, mllibRows, mllib[1], mllib[0]));
    s.append(String.format(Locale.ROOT, "Terms: night CPU s = %.2f + %.3e x changed rows + %.3e x table rows. The "
        + "table term is measured directly, as an upper bound: the CPU of the predictions commit's scan of the keys of "
        + "the table's files (its Spark job's tasks, or the driver's thread) per table row, the mean over the four nights; the other two are a least-"
        + "squares fit of what is left. (All three fitted at once: %.2f + %.3e x changed + %.3e x table rows; the "
        + "table term is within the nights' noise at these sizes.)%n", fixed, perChanged, perTable, fit3[0], fit3[1],
        fit3[2]));
    s.append(String.format(Locale.ROOT, "- fixed term: %.1f CPU s = %.0f J estimated, process start-up included "
        + "(target <= 40 J)%n", fixed, fixed * watts));
    s.append(String.format(Locale.ROOT, "- per changed row: %.3g CPU us = %.3g uJ estimated (target <= 9 uJ)%n",
        perChanged * 1e6, perChanged * watts * 1e6));
    s.append(String.format(Locale.ROOT, "- per table row: at most %.3g CPU us = %.3g uJ estimated (target <= 0.01 uJ)%n",
        perTable * 1e6, perTable * watts * 1e6));
    s.append(String.format(Locale.ROOT, "- baseline, a full MLlib recompute: %.3g CPU us = %.3g uJ estimated per row "
        + "(%,d rows, whole process)%n%n", mllibPerRow * 1e6, mllibPerRow * watts * 1e6, mllibRows));
    // A negative term is no cost: the single runs spread more than the changes moved them (another
    // process on the machine, say). Projecting from it would print ratios that mean nothing.
    boolean usable = fixed > 0 && perChanged > 0 && perTable >= 0;
    if (!usable) {
      s.append("NO PROJECTION: a fitted term is negative, so these single runs spread more than the changes "
          + "moved them (another load on the machine, say). Rerun on a quiet machine.\n");
    } else {
      s.append("PROJECTION from the measured terms (not measured at these sizes): a night = fixed + per changed row x "
          + "churn x N + per table row x N; a full MLlib recompute = its per-row cost x N.\n\n");
      s.append("| table rows N | churn | night, est. J | full MLlib recompute, est. J | MLlib / night | where such a "
          + "night runs |\n| --- | --- | --- | --- | --- | --- |\n");
    }
    boolean onDriver = nights.stream().allMatch(m -> m.sparkJobs() == 0);
    boolean onSpark = nights.stream().allMatch(m -> m.sparkJobs() > 0);
    String measured = onDriver ? "on the driver, as measured" : onSpark ? "with Spark, as measured"
        : "as measured (the nights ran on more than one engine, or their jobs were not read)";
    for (long rows : usable ? new long[] {100_000_000L, 1_000_000_000L} : new long[0]) {
      for (double churn : new double[] {0.001, 0.01, 0.1}) {
        double night = (fixed + perChanged * churn * rows + perTable * rows) * watts;
        double full = mllibPerRow * rows * watts;
        // The driver takes a night of at most driverLimit changes; a larger one runs with Spark, so
        // the driver's terms do not describe it. Its first check counts each change file's rows,
        // update pre-images included, so from half the limit a night may go either way.
        double changes = churn * rows;
        String where = !onDriver || changes < driverLimit / 2.0 ? measured
            : changes <= driverLimit ? "on the driver or with Spark (near score.driver-census-rows = " + driverLimit
                + ", whose first check counts update pre-images): give both engines' terms"
            : "with Spark (over score.driver-census-rows = " + driverLimit + "): NOT these terms; use those of "
                + "--set nightly.engine=spark";
        s.append(String.format(Locale.ROOT, "| %,d | %.1f %% | %.3g = (%.1f + %.3g x %,.0f + %.3g x %,d) s x %.2f W "
            + "| %.3g | %.0fx | %s |%n", rows, churn * 100, night, fixed, perChanged, churn * rows, perTable,
            rows, watts, full, full / night, where));
      }
    }
    System.out.print("\n" + s);
    Path out = dir.resolveSibling("nightly-terms.md");
    Files.writeString(out, s.toString());
    System.out.println("\nwritten: " + out);
  }

  /** x minimising |a x - y|, by the normal equations (3 unknowns). */
  static double[] leastSquares(double[][] a, double[] y) {
    int k = a[0].length;
    double[][] m = new double[k][k + 1];
    for (int r = 0; r < a.length; r++) {
      for (int i = 0; i < k; i++) {
        for (int j = 0; j < k; j++) {
          m[i][j] += a[r][i] * a[r][j];
        }
        m[i][k] += a[r][i] * y[r];
      }
    }
    for (int p = 0; p < k; p++) { // Gauss-Jordan with partial pivoting
      int best = p;
      for (int r = p + 1; r < k; r++) {
        if (Math.abs(m[r][p]) > Math.abs(m[best][p])) {
          best = r;
        }
      }
      double[] tmp = m[p];
      m[p] = m[best];
      m[best] = tmp;
      for (int r = 0; r < k; r++) {
        if (r != p) {
          double f = m[r][p] / m[p][p];
          for (int c = p; c <= k; c++) {
            m[r][c] -= f * m[p][c];
          }
        }
      }
    }
    double[] x = new double[k];
    for (int i = 0; i < k; i++) {
      x[i] = m[i][k] / m[i][i];
    }
    return x;
  }
}
