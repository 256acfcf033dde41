package dev.joule.jobs;

import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.report.ClaimCard;
import dev.joule.jobs.report.Quality;
import dev.joule.jobs.report.QualityCheck;
import dev.joule.jobs.report.ReportJob;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import dev.joule.jobs.delta.DeltaIO;
import org.apache.spark.sql.SparkSession;

/**
 * {@code joule demo}: the whole job on the embedded default. Generates a synthetic table and its
 * teacher model and quantizes it once into an int8 codes table; warms the JVM up on a small
 * separate table along every measured path (so none pays for JIT compilation); then, in one
 * run, scores the table with fp32 (the baseline), int8 quantized on the fly, and int8 read from
 * the codes; compares each with fp32; prints the claim card (on the fly) and a second card for
 * the quantize-once path.
 */
public final class DemoJob {

  public record Request(long rows, int dim, int classes, String out, long seed, long warmupRows,
      String layout, Path summaryJson) {}

  /** What the demo produced, for tests. */
  public record Result(ScoreResult baseline, ScoreResult candidate, Quality quality, ClaimCard card,
      ScoreResult fromCodes, ClaimCard codesCard) {}

  private final SparkSession spark;
  private final JouleConfig config;
  private final PrintStream out;

  public DemoJob(SparkSession spark, JouleConfig config, PrintStream out) {
    this.spark = spark;
    this.config = config;
    this.out = out;
  }

  public Result run(Request r) {
    long t0 = System.nanoTime();
    GenerateJob gen = new GenerateJob(spark);
    step(1, String.format(Locale.ROOT, "generating %,d x %d embeddings (%d classes, %s layout) and the teacher model in %s",
        r.rows(), r.dim(), r.classes(), r.layout(), r.out()));
    GenerateJob.Output data = gen.run(new GenerateJob.Request(r.rows(), r.dim(), r.classes(), r.out(),
        r.layout(), r.seed(), 0.3));
    String scores = r.out() + "/scores";
    String codesScores = r.out() + "/scores-from-codes";
    String codes = r.out() + "/codes-int8";
    QuantizeJob quantize = new QuantizeJob(spark, config);
    quantize.run(new QuantizeJob.Request(data.embeddings(), Precision.INT8, codes, codes + "_rejects", null));
    ScoreJob score = new ScoreJob(spark, config);
    if (r.warmupRows() > 0) {
      step(2, String.format(Locale.ROOT, "warming up the JVM on %,d separate rows along every measured path "
          + "(nothing written)", r.warmupRows()));
      String warm = r.out() + "/_warmup";
      GenerateJob.Output w = gen.run(new GenerateJob.Request(r.warmupRows(), r.dim(), r.classes(), warm,
          r.layout(), r.seed() + 1, 0.3));
      quantize.run(new QuantizeJob.Request(w.embeddings(), Precision.INT8, warm + "/codes", warm + "/codes_rejects", null));
      // Warm-up rows come from another seed, which the teacher does not fit, and nothing of
      // them is published: no quality gate there.
      ScoreJob warmScore = new ScoreJob(spark, config.with("quality.sample-rows", "0"));
      for (Precision p : new Precision[] {Precision.FP32, Precision.INT8}) {
        warmScore.run(new ScoreJob.Request(w.embeddings(), data.model(), p, warm + "/scores", false));
      }
      warmScore.run(new ScoreJob.Request(warm + "/codes", data.model(), Precision.INT8, warm + "/scores", false));
      try {
        DeltaIO.deletePath(spark, warm);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot remove the warm-up folder " + warm, e);
      }
    }
    step(3, "scoring the same rows with fp32 (the baseline), int8 quantized on the fly, and int8 from the codes");
    ScoreResult fp32 = score.run(new ScoreJob.Request(data.embeddings(), data.model(), Precision.FP32, scores, true));
    ScoreResult int8 = score.run(new ScoreJob.Request(data.embeddings(), data.model(), Precision.INT8, scores, true));
    ScoreResult fromCodes = score.run(new ScoreJob.Request(codes, data.model(), Precision.INT8, codesScores, true));
    step(4, "comparing both int8 runs' answers with fp32 on every row");
    Quality q = QualityCheck.compare(spark, scores + "/predictions", fp32.runId(), fp32.kernel(),
        int8.runId(), int8.kernel());
    Quality qc = QualityCheck.compare(spark, scores + "/predictions", fp32.runId(), fp32.kernel(),
        codesScores + "/predictions", fromCodes.runId(), fromCodes.kernel() + " from codes");
    String order = String.format(Locale.ROOT, "fp32, int8 on the fly, int8 from codes, after a warm-up of %,d rows "
        + "on each path", r.warmupRows());
    ClaimCard card = ClaimCard.compare(fp32, int8, q, order);
    ClaimCard codesCard = ClaimCard.compare(fp32, fromCodes, qc, order + "; codes quantized once beforehand, "
        + "not counted in this card (joule quantize, a one-off)");
    out.println();
    out.print(card.toText());
    out.println();
    out.println("QUANTIZE ONCE: the same rows, int8 read from the codes table (" + codes + ")");
    out.print(codesCard.toText());
    Path report = new ReportJob(spark, config).run(new ReportJob.Request(scores, null, false,
        java.util.List.of(fp32.runId(), int8.runId()), Path.of(r.out(), "report.html"))).file();
    out.printf(Locale.ROOT, "tables: %s/{predictions,rejects,energy_log,runs}, %s/...   demo wall time %.1f s%n",
        scores, codesScores, (System.nanoTime() - t0) / 1e9);
    out.println("report: " + report);
    if (r.summaryJson() != null) {
      java.util.Map<String, Object> summary = card.toMap();
      summary.put("from_codes", codesCard.toMap());
      writeJson(r.summaryJson(), ClaimCard.json(summary));
      out.println("summary: " + r.summaryJson());
    }
    return new Result(fp32, int8, q, card, fromCodes, codesCard);
  }

  static void writeJson(Path file, String json) {
    try {
      if (file.toAbsolutePath().getParent() != null) {
        Files.createDirectories(file.toAbsolutePath().getParent());
      }
      Files.writeString(file, json);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  private void step(int n, String what) {
    out.printf(Locale.ROOT, "[%d/4] %s%n", n, what);
    out.flush();
  }

}
