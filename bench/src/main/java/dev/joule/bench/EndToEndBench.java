package dev.joule.bench;

import static org.apache.spark.sql.functions.col;

import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.mllib.ReplicateJob;
import dev.joule.jobs.mllib.TrainJob;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.score.Scoring;
import dev.joule.udfs.StagedRows;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.spark.ml.Transformer;
import org.apache.spark.sql.SparkSession;

/**
 * The end-to-end benchmark of the replication issue, on {@code local[2]}, in one run on one
 * table: (a) a bare scan of the embeddings table (the embedding column read into rows, nothing
 * else: the floor), (a') the same bare scan of the int8 codes table, (b) MLlib's
 * {@code LogisticRegressionModel.transform} on the table converted to MLlib vectors, (c) Joule
 * fp32 from the embeddings table, (d) Joule int8 from the codes table. Each variant runs once on a
 * warm-up table first, then {@code --repeats} times on the full table; the best wall time is
 * reported with its task CPU. Energy is estimated_cputime (task CPU × one assumed power band), so
 * its ratios are CPU-time ratios.
 *
 * <p>Usage: {@code bench/run-e2e.sh [--rows N] [--dim D] [--repeats R]}.
 */
public final class EndToEndBench {

  private EndToEndBench() {}

  record Measured(String name, long rows, double wallS, double cpuS) {}

  public static void main(String[] args) throws IOException {
    long rows = 1_000_000;
    int dim = 384;
    int repeats = 2;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--rows" -> rows = Long.parseLong(args[i + 1]);
        case "--dim" -> dim = Integer.parseInt(args[i + 1]);
        case "--repeats" -> repeats = Integer.parseInt(args[i + 1]);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Path dir = Path.of("bench", "target", "e2e-bench").toAbsolutePath();
    NightlyBench.deleteTree(dir);
    JouleConfig config = JouleConfig.load(null, List.of("spark.master=local[2]", "spark.ui=false",
        "spark.conf.\"spark.sql.warehouse.dir\"=\"" + dir.resolve("warehouse") + "\"", "progress=off"));
    SparkSession spark = JouleSpark.session(config, "joule end-to-end bench");
    try {
      long t = System.nanoTime();
      System.out.printf(Locale.ROOT, "generating %,d x %d rows...%n", rows, dim);
      GenerateJob.Output gen = new GenerateJob(spark).run(new GenerateJob.Request(rows, dim, 10,
          dir.resolve("gen").toString(), "array", 42, 0.3));
      String emb = gen.embeddings();
      String small = dir.resolve("train-rows").toString();
      spark.read().format("delta").load(emb).limit(20_000).write().format("delta").save(small);
      System.out.printf(Locale.ROOT, "generated in %.0f s; training MLlib logistic regression on 20,000 rows...%n",
          (System.nanoTime() - t) / 1e9);
      Path modelFile = dir.resolve("model/lr.json");
      TrainJob.Result trained = new TrainJob(spark, config).run(new TrainJob.Request(small, "label", "lr", modelFile,
          null, 0, 0, 50, 1e-3, 42));
      System.out.printf(Locale.ROOT, "trained (training-set accuracy %.4f); quantizing the table to int8 codes...%n",
          trained.trainingAccuracy());
      String codes = dir.resolve("codes-int8").toString();
      new QuantizeJob(spark, config).run(new QuantizeJob.Request(emb, Precision.INT8, codes, codes + "_rejects", dim));

      ModelSpec model = LinearModelFile.readAny(modelFile);
      Transformer mllib = ReplicateJob.loadMllib(trained.imported().mllibClass(), trained.mllibPath());
      ReplicateJob rj = new ReplicateJob(spark, config);
      DeltaIO.Pinned embT = DeltaIO.readPinned(spark, emb, "embeddings");
      DeltaIO.Pinned codesT = DeltaIO.readPinned(spark, codes, "codes");
      String warmEmb = dir.resolve("warm-emb").toString();
      String warmCodes = dir.resolve("warm-codes").toString();
      embT.data().limit(20_000).write().format("delta").save(warmEmb);
      codesT.data().limit(20_000).write().format("delta").save(warmCodes);
      DeltaIO.Pinned warmE = DeltaIO.readPinned(spark, warmEmb, "warm-up");
      DeltaIO.Pinned warmC = DeltaIO.readPinned(spark, warmCodes, "warm-up");
      String out = dir.resolve("out").toString();

      Map<String, Consumer<Boolean>> variants = new LinkedHashMap<>();
      int d = dim;
      variants.put("(a) bare scan, embeddings (array<float>)", warm -> scan(spark, warm ? warmE : embT, "embedding"));
      variants.put("(a') bare scan, int8 codes (binary)", warm -> scan(spark, warm ? warmC : codesT, "codes"));
      variants.put("(b) MLlib LogisticRegressionModel.transform", warm ->
          rj.runMllib(mllib, (warm ? warmE : embT).data(), "embedding", "id", d, out + "/mllib"));
      variants.put("(c) Joule fp32, embeddings", warm -> joule(spark, config, warm ? warmE : embT, model,
          Precision.FP32, out + "/fp32", warm));
      variants.put("(d) Joule int8, codes table", warm -> joule(spark, config, warm ? warmC : codesT, model,
          Precision.INT8, out + "/int8", warm));

      for (var v : variants.entrySet()) {
        v.getValue().accept(true);
      }
      Map<String, Measured> best = new LinkedHashMap<>();
      for (int r = 0; r < repeats; r++) {
        for (var v : variants.entrySet()) {
          ReplicateJob.Timed tm = rj.timed(() -> v.getValue().accept(false));
          System.out.printf(Locale.ROOT, "  repeat %d: %-45s %6.2f s wall, %6.2f s task CPU%n", r + 1, v.getKey(),
              tm.wallS(), tm.cpuS());
          Measured m = new Measured(v.getKey(), rows, tm.wallS(), tm.cpuS());
          best.merge(v.getKey(), m, (a, b) -> a.wallS() <= b.wallS() ? a : b);
        }
      }
      // Agreement of (d) and (c) with MLlib's predictions, on every row.
      List<String> labels = model.kernel(Precision.FP32).labels();
      String labelArray = ReplicateJob.quoted(labels);
      var mllibOut = spark.read().parquet(out + "/mllib")
          .selectExpr("id", "element_at(array(" + labelArray + "), CAST(prediction AS INT) + 1) AS m_label");
      Map<String, Double> agreement = new LinkedHashMap<>();
      for (String p : List.of("fp32", "int8")) {
        var j = spark.read().format("delta").load(out + "/" + p + "/predictions").selectExpr("id", "label AS j_label");
        agreement.put(p, j.join(mllibOut, "id").selectExpr("avg(CASE WHEN j_label = m_label THEN 1.0D ELSE 0.0D END)")
            .head().getDouble(0));
      }
      HardwareProfile hw = HardwareProfile.detect();
      PowerProfile profile = rj.powerProfile(hw);
      report(rows, dim, repeats, hw, profile, new ArrayList<>(best.values()), agreement);
    } finally {
      spark.stop();
    }
  }

  static void scan(SparkSession spark, DeltaIO.Pinned t, String column) {
    // The noop sink makes Spark read the column into rows and drop them: a count() alone would
    // prune the column and read nothing.
    t.data().select(column).write().format("noop").mode("overwrite").save();
  }

  /** The Spark jobs of each Joule variant's last measured run. */
  static final Map<String, List<dev.joule.jobs.console.SparkJobProfile.Job>> JOBS = new LinkedHashMap<>();

  /** Where a Joule variant's wall time went, per phase, summed over the measured repeats. */
  static final Map<String, Map<String, Double>> PHASES = new LinkedHashMap<>();

  /**
   * One whole {@code joule score} job, its commit included: recovery check, count, scan, score,
   * write, reconcile, gate, the four table commits.
   */
  static void joule(SparkSession spark, JouleConfig config, DeltaIO.Pinned t, ModelSpec model, Precision p, String out,
      boolean warm) {
    dev.joule.jobs.console.SparkJobProfile profile = dev.joule.jobs.console.SparkJobProfile.attach(spark);
    ScoreResult r = new ScoreJob(spark, config).run(new ScoreJob.Request(t.path(), model, p, out, true));
    List<dev.joule.jobs.console.SparkJobProfile.Job> jobs = profile.stop(spark);
    if (!warm) {
      Map<String, Double> ph = PHASES.computeIfAbsent("Joule " + p.label(), k -> new LinkedHashMap<>());
      ph.merge("whole score job, wall (s)", r.wallNanos() / 1e9, Double::sum);
      ph.merge("process CPU outside partition tasks (s)", r.energy().fixedCpuNanos() / 1e9, Double::sum);
      ph.merge("Spark jobs (count)", (double) jobs.size(), Double::sum);
      JOBS.put("Joule " + p.label(), jobs);
    }
  }

  static void report(long rows, int dim, int repeats, HardwareProfile hw, PowerProfile profile, List<Measured> ms,
      Map<String, Double> agreement) throws IOException {
    Measured a = ms.get(0);
    Measured a2 = ms.get(1);
    Measured b = ms.get(2);
    Measured c = ms.get(3);
    Measured d = ms.get(4);
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT, "End-to-end benchmark, %s, %s, %d vCPU, local[2], %,d rows x %d dims, 10-class "
        + "logistic regression. Best wall of %d repeats after a warm-up pass; task CPU is Spark's executor CPU time. "
        + "Energy is estimated_cputime (task CPU s x %.2f W per busy vCPU: CPU band and DRAM background, profile %s): "
        + "an assumption, so J ratios are CPU-time ratios.%n%n", LocalDate.now(), hw.cpuModel(), hw.vcpus(), rows, dim,
        repeats, ReplicateJob.estimatedJoules(profile, hw, 1.0), profile.name()));
    s.append("| variant | wall s | rows/s | task CPU s | est. J / 1k rows | top-1 agreement with MLlib |\n");
    s.append("| --- | --- | --- | --- | --- | --- |\n");
    for (Measured m : ms) {
      String agree = m == c ? String.format(Locale.ROOT, "%.4f", agreement.get("fp32"))
          : m == d ? String.format(Locale.ROOT, "%.4f", agreement.get("int8")) : m == b ? "(baseline)" : "";
      s.append(String.format(Locale.ROOT, "| %s | %.2f | %,.0f | %.2f | %.4f | %s |%n", m.name(), m.wallS(),
          m.rows() / m.wallS(), m.cpuS(), ReplicateJob.estimatedJoules(profile, hw, m.cpuS()) / m.rows() * 1000, agree));
    }
    s.append(String.format(Locale.ROOT, "%nRatios (this run, this machine):%n"
            + "- rows/s (c)/(b), Joule fp32 vs MLlib: %.2f (task CPU per row %.2f)%n"
            + "- rows/s (d)/(b), Joule int8 from codes vs MLlib: %.2f (task CPU per row %.2f); goal >= 20 at >= 99.5 %% agreement, "
            + "agreement %.4f%n"
            + "- time (d)/(a), Joule int8 from codes vs the bare scan of the embeddings: %.2f; goal <= 1.25%n"
            + "- time (d)/(a'), vs the bare scan of the codes table it reads: %.2f; goal <= 1.5%n"
            + "- time (c)/(a), Joule fp32 vs the bare scan of the embeddings it reads: %.2f; goal <= 1.3%n",
        (c.rows() / c.wallS()) / (b.rows() / b.wallS()), c.cpuS() / b.cpuS(),
        (d.rows() / d.wallS()) / (b.rows() / b.wallS()), d.cpuS() / b.cpuS(), agreement.get("int8"),
        d.wallS() / a.wallS(), d.wallS() / a2.wallS(), c.wallS() / a.wallS()));
    s.append(String.format(Locale.ROOT, "%nJoule variants: the whole job's wall time and its fixed CPU (mean of %d repeats, seconds):%n%n", repeats));
    s.append("| variant | phase | s |\n| --- | --- | --- |\n");
    PHASES.forEach((v, ph) -> ph.forEach((k, x) -> s.append(String.format(Locale.ROOT, "| %s | %s | %.2f |%n", v, k,
        x / repeats))));
    s.append("\nThe Spark jobs of each Joule variant's last run (task CPU and wall, seconds):\n\n");
    s.append("| variant | job | stages | tasks | task CPU s | wall s | started at |\n| --- | --- | --- | --- | --- | --- | --- |\n");
    JOBS.forEach((v, jobs) -> jobs.forEach(j -> s.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %.3f | %.3f | %s |%n",
        v, j.id(), j.stages(), j.tasks(), j.taskCpuNanos() / 1e9, j.wallMillis() / 1e3, j.what().replace("|", "/")))));
    System.out.print("\n" + s);
    Path file = Path.of("bench", "target", "e2e-bench.md");
    Files.writeString(file, s.toString());
    System.out.println("\nwritten: " + file);
  }
}
