package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.nightly.NightlyJob;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.QualityGate;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quality gate on real Spark and Delta: int8 passes; int4 rows on 16 dimensions are too coarse
 * for a 5-class head on noisy rows and trip it: {@code fail} commits nothing (exit code 4), {@code fallback}
 * publishes a higher precision and records why. (An int4 kernel on the default int8 rows rescores
 * its near ties and passes; the rows' own 4 bits are what no kernel can undo.)
 */
class QualityGateIT {

  static final int ROWS = 3000;
  /** Rows quantized to int4 on the fly: too coarse at 16 dimensions, whatever the kernel does. */
  static final String INT4_ROWS = "score.int4-rows=int4";

  @TempDir static Path tmp;
  static SparkSession spark;
  static String input;
  static Path model;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(ROWS, 16, 5, tmp.resolve("gen").toString(), "array", 11, 0.5));
    input = gen.embeddings();
    model = gen.model();
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  static ScoreResult score(String in, Precision p, String output, String... sets) {
    return new ScoreJob(spark, TestSpark.config(tmp, sets)).run(new ScoreJob.Request(in, model, p, output, true));
  }

  static Row runRow(String output, String runId) {
    return spark.read().format("delta").load(new OutputTables(output).runs())
        .filter("run_id = '" + runId + "'").head();
  }

  @Test
  void int8PassesAndTheRunSaysSo() throws Exception {
    String out = tmp.resolve("pass").toString();
    ScoreResult r = score(input, Precision.INT8, out);
    QualityGate.Outcome g = r.gate();
    System.out.println("gate, int8: " + g.describe());
    assertEquals("passed", g.status());
    QualityGate.Check c = g.checks().get(0);
    assertEquals("top1_agreement", c.metric());
    assertEquals(ROWS, c.rows(), "the sample is capped by the rows there are");
    assertTrue(c.value() >= 0.995, "int8 agreement " + c.value());
    assertEquals("int8", r.precision());
    assertTrue(runRow(out, r.runId()).<String>getAs("quality_gate").startsWith("passed: softmax@int8 top1_agreement"));
    JsonNode card = new ObjectMapper().readTree(runRow(out, r.runId()).<String>getAs("claim_card"));
    assertEquals("passed", card.at("/quality_gate/status").asText());
    assertEquals(c.value(), card.at("/quality_gate/checks/0/value").asDouble(), 1e-12);

    ScoreResult fp32 = score(input, Precision.FP32, out);
    assertEquals("not_needed", fp32.gate().status());
    ScoreResult off = score(input, Precision.INT4, out, "quality.sample-rows=0");
    assertEquals("off", off.gate().status(), "sample-rows = 0 turns the gate off, and the run says so");
  }

  /** Embedding rows: the tasks keep the sample's fp32 rows as they read them, so the input is read once. */
  @Test
  void theGateComparesTheRowsTheTasksKeptWithoutReadingTheInputAgain() throws Exception {
    java.util.concurrent.atomic.AtomicLong records = new java.util.concurrent.atomic.AtomicLong();
    org.apache.spark.scheduler.SparkListener counter = new org.apache.spark.scheduler.SparkListener() {
      @Override
      public void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd end) {
        if (end.taskMetrics() != null) {
          records.addAndGet(end.taskMetrics().inputMetrics().bytesRead());
        }
      }
    };
    spark.sparkContext().addSparkListener(counter);
    ScoreResult r;
    try {
      r = score(input, Precision.INT8, tmp.resolve("kept-in-pass").toString(), "quality.sample-rows=500");
      spark.sparkContext().listenerBus().waitUntilEmpty();
    } finally {
      spark.sparkContext().removeSparkListener(counter);
    }
    assertEquals("passed", r.gate().status(), r.gate().describe());
    assertEquals(500, r.gate().checks().get(0).rows());
    // The scoring pass reads the input's files once; the id census reads their id column only,
    // the gate the predictions' id and label columns. Before, the gate read the input again.
    long inputBytes;
    try (Stream<Path> files = Files.list(Path.of(input))) {
      inputBytes = files.filter(f -> f.toString().endsWith(".parquet")).mapToLong(f -> f.toFile().length()).sum();
    }
    assertTrue(records.get() < 1.5 * inputBytes, records.get() + " bytes read for an input of " + inputBytes + " bytes");
  }

  @Test
  void aTooCoarsePrecisionFailsAndCommitsNothing() {
    String out = tmp.resolve("fail").toString();
    ScoreResult first = score(input, Precision.FP32, out);
    OutputTables t = new OutputTables(out);
    long[] before = versions(t);
    JouleException e = assertThrows(JouleException.class, () -> score(input, Precision.INT4, out, INT4_ROWS));
    System.out.println("gate, int4, on-fail = fail: " + e.getMessage());
    assertEquals(JouleException.QUALITY, e.exitCode());
    assertTrue(e.getMessage().startsWith("quality gate failed, nothing committed: softmax@int4 "
        + "top1_agreement 0."), e.getMessage());
    assertTrue(e.getMessage().contains("< 0.9950"), e.getMessage());
    assertEquals(before[0], versions(t)[0]);
    assertEquals(before[1], versions(t)[1]);
    assertEquals(before[2], versions(t)[2]);
    // The refused run accounts for itself in runs (status refused), and nowhere else.
    assertEquals(before[3] + 1, versions(t)[3]);
    assertFalse(Files.exists(Path.of(out, "_joule_staging")), "no staging left behind");
    assertEquals(1, spark.read().format("delta").load(t.runs()).filter("status = 'committed'").count());
    assertEquals(1, spark.read().format("delta").load(t.runs()).filter("status = 'refused'").count());
    assertEquals(first.runId(), runRow(out, first.runId()).getAs("run_id"));
    QualityGate.Refused refused = (QualityGate.Refused) e;
    assertEquals("failed", refused.outcome().status());
    assertEquals("refused", runRow(out, refused.result().runId()).getAs("status"));
  }

  @Test
  void fallbackPublishesAHigherPrecisionAndRecordsWhy() throws Exception {
    String out = tmp.resolve("fallback").toString();
    ScoreResult r = score(input, Precision.INT4, out, "quality.on-fail=fallback", INT4_ROWS);
    QualityGate.Outcome g = r.gate();
    System.out.println("gate, int4, on-fail = fallback: " + g.describe());
    assertEquals("fell_back", g.status());
    assertEquals("int4", g.askedPrecision());
    assertNotEquals("int4", r.precision());
    assertEquals(r.precision(), g.publishedPrecision());
    assertFalse(g.checks().get(0).passed());
    assertEquals("int4", g.checks().get(0).precision());
    assertTrue(g.checks().get(0).estimatedJoules() > 0, "the discarded attempt's energy is on record");
    for (int i = 0; i < g.checks().size() - 1; i++) {
      assertFalse(g.checks().get(i).passed());
    }
    if (!r.precision().equals("fp32")) {
      assertTrue(g.checks().get(g.checks().size() - 1).passed());
    }
    OutputTables t = new OutputTables(out);
    List<Row> kernels = spark.read().format("delta").load(t.predictions()).select("kernel").distinct().collectAsList();
    assertEquals(1, kernels.size());
    assertEquals(r.kernel(), kernels.get(0).getString(0));
    assertEquals(ROWS, spark.read().format("delta").load(t.predictions()).count());
    Row run = runRow(out, r.runId());
    assertEquals(r.precision(), run.getAs("precision"));
    assertTrue(run.<String>getAs("quality_gate").startsWith("fell_back: softmax@int4"), run.<String>getAs("quality_gate"));
    assertTrue(run.<String>getAs("quality_gate").contains("published " + r.precision() + " instead of int4"));
    JsonNode card = new ObjectMapper().readTree(run.<String>getAs("claim_card"));
    assertEquals("fell_back", card.at("/quality_gate/status").asText());
    assertEquals(r.precision(), card.at("/quality_gate/published_precision").asText());
    // One energy row per partition of the published attempt only.
    assertEquals(ROWS, spark.read().format("delta").load(t.energyLog()).filter("run_id = '" + r.runId() + "'")
        .selectExpr("sum(rows_in)").head().getLong(0));
    try (Stream<Path> s = Files.list(Path.of(out))) {
      assertEquals(List.of("energy_log", "predictions", "rejects", "runs"),
          s.map(p -> p.getFileName().toString()).sorted().toList(), "no staging left behind");
    }
  }

  @Test
  void codesInputIsGatedAgainstItsSourceAndCannotFallBack() {
    String codes = tmp.resolve("codes-int8").toString();
    new QuantizeJob(spark, TestSpark.config(tmp)).run(
        new QuantizeJob.Request(input, Precision.INT8, codes, codes + "_rejects", null));
    String out = tmp.resolve("codes-out").toString();
    ScoreResult r = score(codes, Precision.INT8, out);
    System.out.println("gate, int8 codes: " + r.gate().describe());
    assertEquals("passed", r.gate().status(), "the codes table names its embeddings table: " + r.gate().describe());
    assertEquals(ROWS, r.gate().checks().get(0).rows());

    String binCodes = tmp.resolve("codes-int4").toString();
    new QuantizeJob(spark, TestSpark.config(tmp)).run(
        new QuantizeJob.Request(input, Precision.INT4, binCodes, binCodes + "_rejects", null));
    JouleException e = assertThrows(JouleException.class, () -> score(binCodes, Precision.INT4,
        tmp.resolve("codes-bin-out").toString(), "quality.on-fail=fallback"));
    assertEquals(JouleException.QUALITY, e.exitCode());
    assertTrue(e.getMessage().contains("cannot fall back to a higher precision: the input is a int4 codes table"),
        e.getMessage());

    // A codes table whose source is unknown and that keeps no sample is scored, and the run says
    // it was not checked.
    spark.sql("ALTER TABLE delta.`" + codes + "` UNSET TBLPROPERTIES ('joule.source', '"
        + QuantizeJob.GATE_SAMPLE_VERSION_PROPERTY + "')");
    ScoreResult unchecked = score(codes, Precision.INT8, out);
    assertEquals("not_checked", unchecked.gate().status());
    assertTrue(unchecked.gate().describe().contains("set joule.quality.reference-input"));
    ScoreResult withRef = score(codes, Precision.INT8, out, "quality.reference-input=\"" + input + "\"");
    assertEquals("passed", withRef.gate().status());
  }

  /** Quantize keeps the gate's fp32 rows beside the codes: a codes run does not read the embeddings again. */
  @Test
  void aCodesRunComparesWithTheFp32RowsKeptAtQuantizeTime() throws Exception {
    String source = tmp.resolve("kept-source").toString();
    spark.read().format("delta").load(input).write().format("delta").save(source);
    String codes = tmp.resolve("kept-codes").toString();
    new QuantizeJob(spark, TestSpark.config(tmp, "quality.sample-rows=1000")).run(
        new QuantizeJob.Request(source, Precision.INT8, codes, codes + "_rejects", null));
    long kept = spark.read().format("delta").load(QuantizeJob.gateSample(codes)).count();
    assertTrue(kept >= 1000 && kept < 1300, kept + " rows kept for a sample of 1,000");
    assertEquals(ROWS, spark.read().format("delta").load(codes).count(), "the sample is not part of the codes");

    // The embeddings table is gone: the gate still checks, on the kept rows.
    Path moved = tmp.resolve("kept-source-moved");
    Files.move(Path.of(source), moved);
    ScoreResult r = score(codes, Precision.INT8, tmp.resolve("kept-out").toString(), "quality.sample-rows=1000");
    assertEquals("passed", r.gate().status(), r.gate().describe());
    assertEquals(1000, r.gate().checks().get(0).rows());

    // Kept from another version than the codes rows say: not used, so the gate reads the source.
    spark.sql("ALTER TABLE delta.`" + codes + "` SET TBLPROPERTIES ('" + QuantizeJob.GATE_SAMPLE_VERSION_PROPERTY
        + "' = '99')");
    JouleException stale = assertThrows(JouleException.class, () -> score(codes, Precision.INT8,
        tmp.resolve("kept-out-stale").toString(), "quality.sample-rows=1000"));
    assertTrue(stale.getMessage().contains("cannot read the embeddings table"), stale.getMessage());
    Files.move(moved, Path.of(source));
    assertEquals("passed", score(codes, Precision.INT8, tmp.resolve("kept-out-stale").toString(),
        "quality.sample-rows=1000").gate().status());
  }

  @Test
  void nightlyIsGatedToo() {
    String out = tmp.resolve("nightly").toString();
    String[] sets = {"nightly.source=" + input, "nightly.model=" + model, "nightly.output=" + out,
        "nightly.precision=int4", INT4_ROWS};
    java.time.LocalDate night = java.time.LocalDate.parse("2026-11-01");
    JouleException e = assertThrows(JouleException.class, () -> new NightlyJob(spark, TestSpark.config(tmp, sets))
        .run(new NightlyJob.Request(night, false, false)));
    assertEquals(JouleException.QUALITY, e.exitCode());
    assertFalse(DeltaIO.exists(spark, new OutputTables(out).runs()), "a failed gate commits no night");
    assertFalse(DeltaIO.exists(spark, new OutputTables(out).predictions()));

    String[] fallback = java.util.Arrays.copyOf(sets, sets.length + 1);
    fallback[sets.length] = "quality.on-fail=fallback";
    NightlyJob.Result r = new NightlyJob(spark, TestSpark.config(tmp, fallback)).run(new NightlyJob.Request(night, false, false));
    assertEquals("committed", r.status());
    assertEquals("fell_back", r.score().gate().status());
    assertEquals("int8", r.score().precision());
    Row run = runRow(out, r.runId());
    assertEquals("int8", run.getAs("precision"));
    assertTrue(run.<String>getAs("quality_gate").contains("published int8 instead of int4"), run.<String>getAs("quality_gate"));
  }

  @Test
  void topkIsGatedOnRecallAgainstExactFp32() {
    String ref = tmp.resolve("reference").toString();
    spark.read().format("delta").load(input).filter("id % 6 = 0").write().format("delta").save(ref);
    dev.joule.bridge.model.ModelSpec int8Ref = dev.joule.jobs.model.ReferenceSet.load(spark, ref, "id", "embedding",
        "cosine", 5, 4, "none", 100_000);
    ScoreResult r = new ScoreJob(spark, TestSpark.config(tmp)).run(
        new ScoreJob.Request(input, int8Ref, Precision.INT8, tmp.resolve("topk-int8").toString(), true));
    System.out.println("gate, top-k int8: " + r.gate().describe());
    QualityGate.Check c = r.gate().checks().get(0);
    assertEquals("recall@5", c.metric());
    assertEquals(1000, c.rows(), "quality.topk-sample-rows caps a top-k sample");
    assertEquals(0.95, c.bar(), "top-k runs are held to quality.min-recall");
    assertEquals("passed", r.gate().status());

    String out = tmp.resolve("topk-binary").toString();
    JouleException e = assertThrows(JouleException.class, () -> new ScoreJob(spark, TestSpark.config(tmp))
        .run(new ScoreJob.Request(input, int8Ref, Precision.BINARY, out, true)));
    System.out.println("gate, top-k binary without rescoring: " + e.getMessage());
    assertEquals(JouleException.QUALITY, e.exitCode());
    assertTrue(e.getMessage().contains("topk5-cosine@binary recall@5 0."), e.getMessage());
    assertFalse(DeltaIO.exists(spark, new OutputTables(out).predictions()));
  }

  @Test
  void theCliExitsWithFourAndOneLine() {
    CliIT.Run r = CliIT.joule("score", "--input", input, "--model", model.toString(), "--precision", "int4",
        "--output", tmp.resolve("cli").toString(), "--set", "score.batch-rows=512", "--set", INT4_ROWS);
    assertEquals(4, r.code(), r.err());
    assertTrue(r.err().startsWith("joule: error: quality gate failed, nothing committed"), r.err());
    assertEquals(1, r.err().lines().count(), "one line, no stack trace: " + r.err());
    assertFalse(DeltaIO.exists(spark, tmp.resolve("cli/predictions").toString()));
  }

  private static long[] versions(OutputTables t) {
    return new long[] {DeltaIO.latestVersion(spark, t.predictions()), DeltaIO.latestVersion(spark, t.rejects()),
        DeltaIO.latestVersion(spark, t.energyLog()), DeltaIO.latestVersion(spark, t.runs())};
  }
}
