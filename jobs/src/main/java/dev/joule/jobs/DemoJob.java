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

  /** What the demo scores: generated clusters, or real text (Debian package descriptions) embedded first. */
  public enum Data { SYNTHETIC, DEBIAN }

  /**
   * @param rows rows to generate, or at most this many texts of {@code dataFile}
   * @param dataFile for {@link Data#DEBIAN}: the JSON lines {@code bench/data/debian-descriptions.sh} writes
   */
  public record Request(long rows, int dim, int classes, String out, long seed, long warmupRows,
      String layout, Path summaryJson, Data data, Path dataFile) {
    public Request(long rows, int dim, int classes, String out, long seed, long warmupRows, String layout,
        Path summaryJson) {
      this(rows, dim, classes, out, seed, warmupRows, layout, summaryJson, Data.SYNTHETIC, null);
    }
  }

  /** The table the demo scores and the model it scores it with. */
  private record Scored(String embeddings, Path model, int dim) {}

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
    Scored data = r.data() == Data.DEBIAN ? realText(r) : generated(gen, r);
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
      GenerateJob.Output w = gen.run(new GenerateJob.Request(r.warmupRows(), data.dim(), r.classes(), warm,
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
    long fp32Done = System.nanoTime();
    Attempt int8 = attempt(r, () -> score.run(new ScoreJob.Request(data.embeddings(), data.model(), Precision.INT8,
        scores, true)));
    long int8Done = System.nanoTime();
    Attempt fromCodes = attempt(r, () -> score.run(new ScoreJob.Request(codes, data.model(), Precision.INT8,
        codesScores, true)));
    long codesDone = System.nanoTime();
    step(4, "comparing both int8 runs' answers with fp32 on every row");
    String order = String.format(Locale.ROOT, "fp32, int8 on the fly, int8 from codes, after a warm-up of %,d rows "
        + "on each path", r.warmupRows());
    Quality q = null;
    ClaimCard card = null;
    out.println();
    if (int8.run() != null) {
      q = QualityCheck.compare(spark, scores + "/predictions", fp32.runId(), fp32.kernel(), int8.run().runId(),
          int8.run().kernel());
      card = ClaimCard.compare(fp32, int8.run(), q, order,
          ClaimCard.Pairing.of(fp32, int8.run(), (int8Done - fp32Done) / 1e9, true));
      out.print(card.toText());
    } else {
      out.println("INT8 ON THE FLY: " + refused(int8));
    }
    out.println();
    ClaimCard codesCard = null;
    if (fromCodes.run() != null) {
      Quality qc = QualityCheck.compare(spark, scores + "/predictions", fp32.runId(), fp32.kernel(),
          codesScores + "/predictions", fromCodes.run().runId(), fromCodes.run().kernel() + " from codes");
      codesCard = ClaimCard.compare(fp32, fromCodes.run(), qc, order + "; codes quantized once beforehand, "
          + "not counted in this card (joule quantize, a one-off)",
          ClaimCard.Pairing.of(fp32, fromCodes.run(), (codesDone - fp32Done) / 1e9, true));
      out.println("QUANTIZE ONCE: the same rows, int8 read from the codes table (" + codes + ")");
      out.print(codesCard.toText());
    } else {
      out.println("QUANTIZE ONCE (int8 read from " + codes + "): " + refused(fromCodes));
    }
    java.util.List<String> compared = new java.util.ArrayList<>(java.util.List.of(fp32.runId()));
    if (int8.run() != null) {
      compared.add(int8.run().runId());
    }
    if (fromCodes.run() != null) {
      compared.add(fromCodes.run().runId());
    }
    if (compared.size() > 1) {
      // Both comparisons in one report: on the fly, and quantize once (the codes run's own folder).
      Path report = new ReportJob(spark, config).run(new ReportJob.Request(java.util.List.of(scores, codesScores),
          null, false, compared, Path.of(r.out(), "report.html"))).file();
      out.println("report: " + report);
    } else {
      out.println("no report: both int8 runs were refused, so there is no comparison to report; the runs tables keep "
          + "the refused runs (" + scores + "/runs, " + codesScores + "/runs)");
    }
    out.printf(Locale.ROOT, "tables: %s/{predictions,rejects,energy_log,runs}, %s/...   demo wall time %.1f s%n",
        scores, codesScores, (System.nanoTime() - t0) / 1e9);
    if (r.summaryJson() != null) {
      java.util.Map<String, Object> summary = card != null ? card.toMap() : new java.util.LinkedHashMap<>(
          java.util.Map.of("refused_by_quality_gate", int8.refusal().getMessage()));
      summary.put("from_codes", codesCard != null ? codesCard.toMap()
          : java.util.Map.of("refused_by_quality_gate", fromCodes.refusal().getMessage()));
      writeJson(r.summaryJson(), ClaimCard.json(summary));
      out.println("summary: " + r.summaryJson());
    }
    return new Result(fp32, int8.run(), q, card, fromCodes.run(), codesCard);
  }

  /** A quantized run, or the quality gate's refusal of it. */
  private record Attempt(ScoreResult run, dev.joule.jobs.score.QualityGate.Refused refusal) {}

  /**
   * Real data may fail the quality gate where generated clusters pass: the demo then shows the
   * refusal and goes on. On generated data a refusal is a failure of the demo.
   */
  private static Attempt attempt(Request r, java.util.function.Supplier<ScoreResult> run) {
    try {
      return new Attempt(run.get(), null);
    } catch (dev.joule.jobs.score.QualityGate.Refused e) {
      if (r.data() == Data.SYNTHETIC) {
        throw e;
      }
      return new Attempt(null, e);
    }
  }

  private static String refused(Attempt a) {
    return "REFUSED by the quality gate on this data; nothing of it was published: " + a.refusal().getMessage();
  }

  private Scored generated(GenerateJob gen, Request r) {
    step(1, String.format(Locale.ROOT, "generating %,d x %d embeddings (%d classes, %s layout) and the teacher model in %s",
        r.rows(), r.dim(), r.classes(), r.layout(), r.out()));
    GenerateJob.Output g = gen.run(new GenerateJob.Request(r.rows(), r.dim(), r.classes(), r.out(), r.layout(),
        r.seed(), 0.3));
    return new Scored(g.embeddings(), g.model(), r.dim());
  }

  /**
   * Real text: the package descriptions embedded with the fp32 encoder, and an MLlib logistic
   * regression trained on their Debian sections, as a user's own model would be.
   */
  private Scored realText(Request r) {
    Path file = r.dataFile();
    if (file == null || !Files.isRegularFile(file)) {
      throw JouleException.input("the Debian descriptions are not at " + file + "; make them with "
          + "bench/data/debian-descriptions.sh (from this machine's apt lists)");
    }
    String texts = r.out() + "/texts";
    Path input = file;
    if (r.rows() > 0) {
      input = Path.of(r.out(), "_texts-input.jsonl");
      try (java.util.stream.Stream<String> lines = Files.lines(file)) {
        Files.createDirectories(input.getParent());
        Files.write(input, (Iterable<String>) lines.limit(r.rows())::iterator);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + file, e);
      }
    }
    step(1, "embedding Debian package descriptions (real text, " + file + ") with all-minilm-l6-v2, then training "
        + "an MLlib logistic regression on their sections");
    dev.joule.jobs.embed.EmbedJob.Result e = new dev.joule.jobs.embed.EmbedJob(spark, config).run(
        new dev.joule.jobs.embed.EmbedJob.Request(input.toString(), dev.joule.jobs.embed.EmbedJob.Format.JSONL, "text",
            "id", texts, dev.joule.encoder.EncoderModel.ALL_MINILM_L6_V2, 64, dev.joule.udfs.embed.LongText.TRUNCATE,
            java.util.List.of("section")));
    out.print(ClaimCard.forRun(e.run(), "embedded").toText());
    Path model = Path.of(r.out(), "section-lr.json");
    dev.joule.jobs.mllib.TrainJob.Result t = new dev.joule.jobs.mllib.TrainJob(spark, config).run(
        new dev.joule.jobs.mllib.TrainJob.Request(e.embeddings(), "section", "lr", model, null, 32, 10, 100, 0.001,
            r.seed()));
    out.printf(Locale.ROOT, "trained MLlib logistic regression on %,d rows, %d sections (training-set accuracy %.4f)%n",
        t.rowsUsed(), t.labels().size(), t.trainingAccuracy());
    return new Scored(e.embeddings(), model, dev.joule.encoder.EncoderModel.DIM);
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
