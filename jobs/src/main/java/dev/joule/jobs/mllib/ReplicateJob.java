package dev.joule.jobs.mllib;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.xxhash64;

import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.model.ModelSpec;
import dev.joule.jobs.JouleException;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.imports.MllibImport;
import dev.joule.jobs.score.Scoring;
import dev.joule.udfs.StagedRows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.classification.LogisticRegressionModel;
import org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel;
import org.apache.spark.ml.clustering.KMeansModel;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code joule replicate}: on the same rows, in one run, the conventional model (MLlib's own
 * {@code transform}) and Joule's replication of it at fp32 and at each quantized precision. Each
 * variant reads the same Delta table and writes its answers to Parquet; it is timed by wall clock
 * and by the CPU time of its Spark tasks, and its energy is estimated from that CPU time with the
 * same power band for every variant ({@code estimated_cputime}), so the ratios between variants
 * are CPU-time ratios. The answers are then compared with MLlib's row by row: top-1 agreement and
 * absolute probability errors.
 */
public final class ReplicateJob {

  private static final Logger LOG = LoggerFactory.getLogger(ReplicateJob.class);

  /**
   * @param mllib an MLlib model folder (the baseline, and the Joule model when {@code model} is null)
   * @param model a Joule model file; without {@code mllib} the baseline is Joule fp32
   * @param sample rows to use (the smallest id hashes), or null for the whole input
   */
  public record Request(String input, Path model, String mllib, List<Precision> precisions, Long sample,
      long warmupRows, String work) {}

  /**
   * One variant's figures. Agreement and errors are against the baseline (null for the baseline
   * itself, or where they do not apply: probability errors of a k-means model).
   */
  public record Variant(String name, String precision, long rows, double wallSeconds, double taskCpuSeconds,
      double estimatedJoules, Long rowsCompared, Double agreement, Double maxAbsProbError, Double meanAbsProbError,
      String note) {

    public double rowsPerSecond() {
      return rows / Math.max(1e-9, wallSeconds);
    }

    public double estimatedJPer1k() {
      return estimatedJoules / Math.max(1, rows) * 1000;
    }

    public boolean ran() {
      return note == null || !note.startsWith("not run");
    }
  }

  public record Result(String input, long inputVersion, long rows, String baseline, String mllibClass,
      String modelId, PowerProfile profile, HardwareProfile hardware, List<Variant> variants) {

    public Variant baselineVariant() {
      return variants.get(0);
    }
  }

  private final SparkSession spark;
  private final JouleConfig config;

  public ReplicateJob(SparkSession spark, JouleConfig config) {
    this.spark = spark;
    this.config = config;
  }

  public Result run(Request r) {
    if (r.model() == null && r.mllib() == null) {
      throw JouleException.usage("replicate needs --mllib PATH or --model FILE (or both)");
    }
    if (config.bridgeSettings() != null) {
      // Kernel time on a remote node is not in the executors' task CPU, the figure every variant shares.
      throw JouleException.usage("replicate measures in-process scoring; unset joule.bridge.nodes");
    }
    if (r.mllib() == null && (r.precisions().isEmpty() || r.precisions().get(0) != Precision.FP32)) {
      // Without MLlib the baseline is Joule fp32: it runs first, whatever order was asked.
      List<Precision> ps = new ArrayList<>(List.of(Precision.FP32));
      r.precisions().stream().filter(p -> p != Precision.FP32).forEach(ps::add);
      r = new Request(r.input(), r.model(), r.mllib(), ps, r.sample(), r.warmupRows(), r.work());
    }
    String work = r.work().replaceAll("/+$", "") + "/replicate-" + UUID.randomUUID().toString().substring(0, 8);
    // The --work folder (and any parent) this run creates is removed with its own subfolder.
    String created = DeltaIO.firstMissing(spark, r.work());
    try {
      return measure(r, work);
    } finally {
      try {
        DeltaIO.deletePath(spark, work);
      } catch (java.io.IOException | RuntimeException e) {
        LOG.warn("could not remove {}: {}", work, e.toString());
      }
      DeltaIO.removeEmptyFolders(spark, r.work(), created);
    }
  }

  private Result measure(Request r, String work) {
    String mllibClass = r.mllib() == null ? null : new MllibImport(spark).modelClass(r.mllib());
    Transformer mllib = r.mllib() == null ? null : loadMllib(mllibClass, r.mllib());
    ModelSpec model;
    if (r.model() != null) {
      model = LinearModelFile.readAny(r.model());
    } else {
      Path file = Path.of(work.replaceFirst("^file:", ""), "imported-model.json");
      new MllibImport(spark).run(r.mllib(), file);
      model = LinearModelFile.readAny(file);
    }
    String idCol = config.string("score.id-col");
    String embCol = config.string("score.embedding-col");
    DeltaIO.Pinned pinned = DeltaIO.readPinned(spark, r.input(), "input");
    for (String c : List.of(idCol, embCol)) {
      if (!List.of(pinned.data().columns()).contains(c)) {
        throw JouleException.input("input table " + r.input() + " has no column '" + c + "'");
      }
    }
    // The rows every variant reads: a Delta table of their own when sampling, so each variant
    // pays the same read.
    DeltaIO.Pinned rows;
    if (r.sample() != null) {
      String path = work + "/sample";
      pinned.data().orderBy(xxhash64(col(idCol)), col(idCol)).limit((int) Math.min(Integer.MAX_VALUE, r.sample()))
          .write().format("delta").save(path);
      rows = DeltaIO.readPinned(spark, path, "sample");
    } else {
      rows = pinned;
    }
    long n = rows.data().count();
    List<String> labels = model.kernel(Precision.FP32).labels();
    HardwareProfile hw = HardwareProfile.detect();
    PowerProfile profile = powerProfile(hw);

    if (r.warmupRows() > 0) {
      String path = work + "/warmup";
      rows.data().limit((int) Math.min(r.warmupRows(), Integer.MAX_VALUE)).write().format("delta").save(path);
      DeltaIO.Pinned warm = DeltaIO.readPinned(spark, path, "warm-up rows");
      LOG.info("replicate: warm-up on {} rows", r.warmupRows());
      long warmRows = warm.data().count();
      if (mllib != null) {
        runMllib(mllib, warm.data(), embCol, idCol, model.dim(), work + "/warmup-mllib");
      }
      for (Precision p : r.precisions()) {
        try {
          Scoring.Prepared prep = Scoring.prepare(config, warm, model, p);
          Scoring.stage(spark, config, prep, prep.select(warm.data()), warmRows, "warmup", "replicate",
              new Scoring.Staging(work + "/warmup-" + p.label()));
        } catch (JouleException e) {
          // reported in the measured pass
        }
      }
    }

    List<Variant> variants = new ArrayList<>();
    Map<String, Dataset<Row>> answers = new LinkedHashMap<>();
    String baseline;
    if (mllib != null) {
      baseline = "MLlib " + mllibClass.substring(mllibClass.lastIndexOf('.') + 1) + ".transform";
      String out = work + "/mllib";
      Timed t = timed(() -> runMllib(mllib, rows.data(), embCol, idCol, model.dim(), out));
      variants.add(new Variant(baseline, "fp64", n, t.wallS, t.cpuS, estimatedJoules(profile, hw, t.cpuS), null, null,
          null, null, null));
      Dataset<Row> m = spark.read().parquet(out);
      boolean probs = List.of(m.columns()).contains("probability");
      answers.put(baseline, m.selectExpr("id", "element_at(array(" + quoted(labels) + "), CAST(prediction AS INT) + 1) AS b_label",
          probs ? "probability AS b_scores" : "CAST(NULL AS array<double>) AS b_scores"));
    } else {
      baseline = "Joule fp32";
    }
    boolean scoresAreProbabilities = mllibClass == null || !mllibClass.endsWith("KMeansModel");
    for (Precision p : r.precisions()) {
      String name = "Joule " + p.label();
      Scoring.Prepared prep;
      try {
        prep = Scoring.prepare(config, rows, model, p);
      } catch (JouleException e) {
        variants.add(new Variant(name, p.label(), n, 0, 0, 0, null, null, null, null, "not run: " + e.getMessage()));
        continue;
      }
      String staging = work + "/joule-" + p.label();
      Scoring.Prepared pr = prep;
      long rowsIn = n;
      Scoring.Staged[] st = new Scoring.Staged[1];
      Timed t = timed(() -> st[0] = Scoring.stage(spark, config, pr, pr.select(rows.data()), rowsIn,
          "replicate-" + p.label(), "replicate", new Scoring.Staging(staging)));
      Dataset<Row> a = st[0].ofKind(StagedRows.PREDICTION).selectExpr("id", "label AS c_label", "scores AS c_scores");
      Dataset<Row> base = answers.get(baseline);
      Long compared = null;
      Double agree = null;
      Double maxErr = null;
      Double meanErr = null;
      if (base == null) {
        answers.put(baseline, a.selectExpr("id", "c_label AS b_label", "c_scores AS b_scores"));
      } else {
        Row q = a.join(base, "id").selectExpr("count(*)",
            "avg(CASE WHEN c_label = b_label THEN 1.0D ELSE 0.0D END)",
            "max(array_max(zip_with(c_scores, b_scores, (x, y) -> abs(x - y))))",
            "avg(aggregate(zip_with(c_scores, b_scores, (x, y) -> abs(x - y)), 0D, (s, v) -> s + v) / size(c_scores))")
            .head();
        compared = q.getLong(0);
        agree = q.isNullAt(1) ? null : q.getDouble(1);
        if (scoresAreProbabilities && !q.isNullAt(2)) {
          maxErr = ((Number) q.get(2)).doubleValue();
          meanErr = q.getDouble(3);
        }
      }
      String note = st[0].rejected() > 0 ? st[0].rejected() + " rows rejected" : null;
      variants.add(new Variant(name, prep.kernel().precision().label(), n, t.wallS, t.cpuS,
          estimatedJoules(profile, hw, t.cpuS), compared, agree, maxErr, meanErr, note));
    }
    return new Result(r.input(), pinned.version(), n, baseline, mllibClass, model.modelId(), profile, hw, variants);
  }

  /** Labels as the elements of a Spark SQL array literal. */
  public static String quoted(List<String> labels) {
    StringBuilder s = new StringBuilder();
    for (String l : labels) {
      s.append(s.length() == 0 ? "" : ", ").append('\'').append(DeltaIO.sqlString(l)).append('\'');
    }
    return s.toString();
  }

  /** MLlib's transform of {@code in}, written to Parquet: id, prediction and (classifiers) probability. */
  public void runMllib(Transformer model, Dataset<Row> in, String embCol, String idCol, int dim, String out) {
    Dataset<Row> scored = model.transform(MllibFeatures.withFeatures(in, embCol, dim));
    List<org.apache.spark.sql.Column> cols = new ArrayList<>(List.of(col(idCol).as("id"), col("prediction")));
    if (List.of(scored.columns()).contains("probability")) {
      cols.add(org.apache.spark.ml.functions.vector_to_array(col("probability"), "float64").as("probability"));
    }
    scored.select(cols.toArray(new org.apache.spark.sql.Column[0])).write().mode("overwrite").parquet(out);
  }

  public static Transformer loadMllib(String cls, String path) {
    try {
      return switch (cls) {
        case "org.apache.spark.ml.classification.LogisticRegressionModel" -> LogisticRegressionModel.load(path);
        case "org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel" ->
            MultilayerPerceptronClassificationModel.load(path);
        case "org.apache.spark.ml.clustering.KMeansModel" -> KMeansModel.load(path);
        default -> throw JouleException.input("MLlib model " + path + " is a " + cls + ", which Joule does not "
            + "replicate (LogisticRegressionModel, MultilayerPerceptronClassificationModel, KMeansModel)");
      };
    } catch (JouleException e) {
      throw e;
    } catch (Exception e) { // AnalysisException is checked in Java terms
      throw JouleException.input("MLlib model " + path + " could not be loaded: "
          + String.valueOf(e.getMessage()).lines().findFirst().orElse(e.toString()));
    }
  }

  /** The power profile every variant's energy is estimated with (the one this host matches). */
  public PowerProfile powerProfile(HardwareProfile hw) {
    return PowerProfile.choose(config.energySpec(JouleSpark.slotsPerExecutor(spark)).powerProfiles(), hw.cpuModel());
  }

  /**
   * estimated_cputime of {@code cpuSeconds} of task CPU: the typical band plus the vCPU's DRAM
   * background share, as a score run's cpu and dram_background parts; one rate for every
   * variant, so ratios are CPU-time ratios. (Bytes moved are not counted: MLlib reports none.)
   */
  public static double estimatedJoules(PowerProfile profile, HardwareProfile hw, double cpuSeconds) {
    return cpuSeconds * (profile.cpuWattsTypical() + dev.joule.bridge.energy.CpuTimeEstimator.backgroundWattsPerBusyVcpu(hw, profile));
  }

  /** Wall seconds and the CPU seconds of every Spark task that ran meanwhile. */
  public record Timed(double wallS, double cpuS) {}

  public Timed timed(Runnable body) {
    AtomicLong cpu = new AtomicLong();
    SparkListener l = new SparkListener() {
      @Override
      public void onTaskEnd(SparkListenerTaskEnd e) {
        if (e.taskMetrics() != null) {
          cpu.addAndGet(e.taskMetrics().executorCpuTime() + e.taskMetrics().executorDeserializeCpuTime());
        }
      }
    };
    spark.sparkContext().addSparkListener(l);
    long t0 = System.nanoTime();
    try {
      body.run();
      Scoring.drainListeners(spark);
    } finally {
      spark.sparkContext().removeSparkListener(l);
    }
    return new Timed((System.nanoTime() - t0) / 1e9, cpu.get() / 1e9);
  }

  /** The comparison table, one line per variant, ratios to the baseline. */
  public static String table(Result r) {
    StringBuilder s = new StringBuilder();
    Variant b = r.baselineVariant();
    s.append(String.format(Locale.ROOT, "replicate: %s (model %s) on %,d rows of %s (version %d); baseline: %s%n",
        r.mllibClass() == null ? "Joule model" : r.mllibClass().substring(r.mllibClass().lastIndexOf('.') + 1),
        r.modelId(), r.rows(), r.input(), r.inputVersion(), r.baseline()));
    s.append(String.format(Locale.ROOT, "hardware: %s, %d vCPU; energy is estimated_cputime: task CPU s x %.2f W per "
        + "busy vCPU (profile %s%s, %.2f W CPU + %.2f W DRAM background; an assumption, not a measurement)%n",
        r.hardware().cpuModel(), r.hardware().vcpus(), estimatedJoules(r.profile(), r.hardware(), 1.0), r.profile().name(),
        r.profile().generic() ? ", GENERIC" : "", r.profile().cpuWattsTypical(),
        dev.joule.bridge.energy.CpuTimeEstimator.backgroundWattsPerBusyVcpu(r.hardware(), r.profile())));
    s.append("| variant | rows/s | task CPU s | est. J / 1k rows (estimated_cputime) | top-1 agreement with baseline "
        + "| max abs prob error | mean abs prob error | rows/s ratio | CPU ratio | est. J ratio |\n");
    s.append("|---|---|---|---|---|---|---|---|---|---|\n");
    for (Variant v : r.variants()) {
      if (!v.ran()) {
        s.append("| ").append(v.name()).append(" | ").append(v.note()).append(" |||||||||\n");
        continue;
      }
      boolean base = v == b;
      s.append(String.format(Locale.ROOT, "| %s | %,.0f | %.2f | %.4f | %s | %s | %s | %s | %s | %s |%n", v.name(),
          v.rowsPerSecond(), v.taskCpuSeconds(), v.estimatedJPer1k(),
          base ? "(baseline)" : v.agreement() == null ? "n/a" : String.format(Locale.ROOT, "%.4f", v.agreement()),
          v.maxAbsProbError() == null ? "n/a" : String.format(Locale.ROOT, "%.2e", v.maxAbsProbError()),
          v.meanAbsProbError() == null ? "n/a" : String.format(Locale.ROOT, "%.2e", v.meanAbsProbError()),
          ratio(v.rowsPerSecond(), b.rowsPerSecond()), ratio(v.taskCpuSeconds(), b.taskCpuSeconds()),
          ratio(v.estimatedJPer1k(), b.estimatedJPer1k())));
    }
    s.append("Ratios are variant / baseline, from this run on this machine only; the J ratio is the CPU-time ratio "
        + "(the assumed power band cancels). Errors compare the score vectors: probabilities for logistic regression, "
        + "perceptrons and softmax heads, raw scores otherwise (n/a for k-means against MLlib).\n");
    return s.toString();
  }

  private static String ratio(double a, double b) {
    return b > 0 ? String.format(Locale.ROOT, "%.2f", a / b) : "n/a";
  }

  public static Map<String, Object> toMap(Result r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("input", r.input());
    m.put("input_version", r.inputVersion());
    m.put("rows", r.rows());
    m.put("baseline", r.baseline());
    m.put("mllib_class", r.mllibClass());
    m.put("model_id", r.modelId());
    m.put("hardware", Map.of("cpu_model", r.hardware().cpuModel(), "vcpus", r.hardware().vcpus()));
    m.put("energy_method", "estimated_cputime: Spark task CPU seconds x " + estimatedJoules(r.profile(), r.hardware(), 1.0)
        + " W per busy vCPU (profile " + r.profile().name() + ": CPU band typical + DRAM background share); ratios "
        + "between variants are CPU-time ratios");
    List<Map<String, Object>> vs = new ArrayList<>();
    Variant b = r.baselineVariant();
    for (Variant v : r.variants()) {
      Map<String, Object> x = new LinkedHashMap<>();
      x.put("variant", v.name());
      x.put("precision", v.precision());
      x.put("ran", v.ran());
      if (v.ran()) {
        x.put("rows", v.rows());
        x.put("wall_seconds", v.wallSeconds());
        x.put("rows_per_second", v.rowsPerSecond());
        x.put("task_cpu_seconds", v.taskCpuSeconds());
        x.put("estimated_cputime_joules_per_1k_rows", v.estimatedJPer1k());
        x.put("rows_compared", v.rowsCompared());
        x.put("top1_agreement_with_baseline", v.agreement());
        x.put("max_abs_prob_error", v.maxAbsProbError());
        x.put("mean_abs_prob_error", v.meanAbsProbError());
        x.put("ratio_rows_per_second", b.rowsPerSecond() > 0 ? v.rowsPerSecond() / b.rowsPerSecond() : null);
        x.put("ratio_task_cpu", b.taskCpuSeconds() > 0 ? v.taskCpuSeconds() / b.taskCpuSeconds() : null);
      }
      x.put("note", v.note());
      vs.add(x);
    }
    m.put("variants", vs);
    return m;
  }
}
