package dev.joule.jobs;

import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.report.ClaimCard;
import dev.joule.jobs.report.Quality;
import dev.joule.jobs.report.QualityCheck;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.sql.SparkSession;

/**
 * {@code joule demo}: the whole job on the embedded default. Generates a synthetic table and its
 * teacher model, warms the JVM up on a small separate table at both precisions (so neither
 * measured run pays for JIT compilation), scores the table with fp32 (the baseline) and int8 in
 * one run, compares their answers, and prints the claim card.
 */
public final class DemoJob {

  public record Request(long rows, int dim, int classes, String out, long seed, long warmupRows,
      String layout, Path summaryJson) {}

  /** What the demo produced, for tests. */
  public record Result(ScoreResult baseline, ScoreResult candidate, Quality quality, ClaimCard card) {}

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
    ScoreJob score = new ScoreJob(spark, config);
    if (r.warmupRows() > 0) {
      step(2, String.format(Locale.ROOT, "warming up the JVM on %,d separate rows at fp32 and int8 (nothing written)",
          r.warmupRows()));
      String warm = r.out() + "/_warmup";
      GenerateJob.Output w = gen.run(new GenerateJob.Request(r.warmupRows(), r.dim(), r.classes(), warm,
          r.layout(), r.seed() + 1, 0.3));
      for (Precision p : new Precision[] {Precision.FP32, Precision.INT8}) {
        score.run(new ScoreJob.Request(w.embeddings(), data.model(), p, warm + "/scores", false));
      }
      delete(warm);
    }
    step(3, "scoring with fp32 (the baseline), then int8, on the same rows");
    ScoreResult fp32 = score.run(new ScoreJob.Request(data.embeddings(), data.model(), Precision.FP32, scores, true));
    ScoreResult int8 = score.run(new ScoreJob.Request(data.embeddings(), data.model(), Precision.INT8, scores, true));
    step(4, "comparing int8 answers with fp32 on every row");
    Quality q = QualityCheck.compare(spark, scores + "/predictions", fp32.runId(), fp32.kernel(),
        int8.runId(), int8.kernel());
    String order = String.format(Locale.ROOT, "fp32 then int8, after a warm-up of %,d rows at each precision", r.warmupRows());
    ClaimCard card = ClaimCard.compare(fp32, int8, q, order);
    out.println();
    out.print(card.toText());
    out.printf(Locale.ROOT, "tables: %s/{predictions,rejects,energy_log,runs}   demo wall time %.1f s%n",
        scores, (System.nanoTime() - t0) / 1e9);
    if (r.summaryJson() != null) {
      writeJson(r.summaryJson(), card.toJson());
      out.println("summary: " + r.summaryJson());
    }
    return new Result(fp32, int8, q, card);
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

  private void delete(String path) {
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
      FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
      fs.delete(p, true);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
