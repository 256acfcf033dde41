package dev.joule.jobs;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.quantize.QuantizeJob;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** score on real local Spark and real Delta tables. */
class ScoreJobIT {

  static final int GOOD = 3000;
  static final int DIM = 16;

  @TempDir static Path tmp;
  static SparkSession spark;
  static String input;
  static Path model;
  static int partitions;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(GOOD, DIM, 3, tmp.resolve("gen").toString(), "array", 7, 0.3));
    model = gen.model();
    StructType nullable = new StructType().add("id", DataTypes.LongType, true)
        .add("embedding", DataTypes.createArrayType(DataTypes.FloatType, true), true);
    float[] nan = new float[DIM];
    nan[5] = Float.NaN;
    Dataset<Row> bad = spark.createDataFrame(List.of(
        RowFactory.create(null, new float[DIM]),
        RowFactory.create(9001L, null),
        RowFactory.create(9002L, new float[] {1, 2, 3}),
        RowFactory.create(9003L, nan)), nullable);
    input = tmp.resolve("input").toString();
    spark.read().format("delta").load(gen.embeddings()).select("id", "embedding").union(bad)
        .repartition(3).write().format("delta").save(input);
    partitions = spark.read().format("delta").load(input).rdd().getNumPartitions();
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  ScoreResult score(String output, Precision p, String... sets) {
    return new ScoreJob(spark, TestSpark.config(tmp, sets))
        .run(new ScoreJob.Request(input, model, p, output, true));
  }

  long count(String table) {
    return spark.read().format("delta").load(table).count();
  }

  @Test
  void everyRowEndsScoredOrRejectedWithOneEnergyRowPerPartition() {
    OutputTables out = new OutputTables(tmp.resolve("out-main").toString());
    ScoreResult r = score(out.root(), Precision.INT8);

    assertEquals(GOOD + 4, r.rowsIn());
    assertEquals(GOOD, count(out.predictions()));
    assertEquals(r.rowsIn(), count(out.predictions()) + count(out.rejects()));
    Map<String, String> reasons = spark.read().format("delta").load(out.rejects()).collectAsList().stream()
        .collect(Collectors.toMap(x -> String.valueOf(x.<Object>getAs("id")), x -> x.<String>getAs("reason")));
    assertEquals(4, reasons.size());
    assertTrue(reasons.get("null").startsWith("null_id"), reasons.toString());
    assertTrue(reasons.get("9001").startsWith("null_embedding"));
    assertTrue(reasons.get("9002").startsWith("wrong_dim: embedding has 3 values, the model expects 16"));
    assertTrue(reasons.get("9003").startsWith("non_finite: embedding element 5 is NaN"));
    assertEquals(Map.of("non_finite", 1L, "null_embedding", 1L, "null_id", 1L, "wrong_dim", 1L), r.rejectReasons());

    Dataset<Row> energy = spark.read().format("delta").load(out.energyLog());
    assertEquals(partitions, energy.count());
    assertEquals(partitions, energy.select("partition_id").distinct().count());
    assertEquals(r.rowsIn(), energy.agg(org.apache.spark.sql.functions.sum("rows_in")).head().getLong(0));
    Set<String> methods = energy.selectExpr("explode(energy) AS e").select("e.method").distinct()
        .collectAsList().stream().map(x -> x.getString(0)).collect(Collectors.toSet());
    assertEquals(Set.of("estimated_cputime", "modelled_ops_bytes"), methods);
    for (Row e : energy.collectAsList()) {
      assertTrue(e.<Long>getAs("thread_cpu_ns") > 0);
      assertEquals(r.runId(), e.getAs("run_id"));
      assertEquals("softmax@int8", e.getAs("kernel"));
      assertFalse(((String) e.getAs("hw_cpu_model")).isBlank());
    }

    Row run = spark.read().format("delta").load(out.runs()).head();
    assertEquals("committed", run.getAs("status"));
    assertEquals(GOOD + 4L, (long) run.getAs("rows_in"));
    assertTrue(((String) run.getAs("claim_card")).contains("no saving claimed"));

    // The teacher is Bayes-optimal for the generated clusters: int8 predictions mostly match truth.
    double accuracy = spark.read().format("delta").load(out.predictions()).as("p")
        .join(spark.read().format("delta").load(tmp.resolve("gen/embeddings").toString()).as("g"), "id")
        .selectExpr("avg(CASE WHEN p.label = g.label THEN 1.0D ELSE 0.0D END)").head().getDouble(0);
    assertTrue(accuracy > 0.9, "accuracy against the generating labels " + accuracy);
  }

  @Test
  void rerunReplacesThisKernelsPredictionsInsteadOfDuplicating() {
    OutputTables out = new OutputTables(tmp.resolve("out-rerun").toString());
    score(out.root(), Precision.INT8);
    var profile = dev.joule.jobs.console.SparkJobProfile.attach(spark);
    ScoreResult second = score(out.root(), Precision.INT8);
    List<String> jobs = profile.stop(spark).stream().map(dev.joule.jobs.console.SparkJobProfile.Job::what).toList();
    assertEquals(List.of(), jobs.stream().filter(j -> j.startsWith("commit")).toList(),
        "the files a rerun replaces are listed on the driver (Delta's own list runs two jobs per table): " + jobs);
    score(out.root(), Precision.FP32);
    Dataset<Row> p = spark.read().format("delta").load(out.predictions());
    assertEquals(GOOD, p.filter(col("kernel").equalTo("softmax@int8")).count());
    assertEquals(GOOD, p.filter(col("kernel").equalTo("softmax@fp32")).count());
    assertEquals(Set.of(second.runId()), p.filter(col("kernel").equalTo("softmax@int8")).select("run_id")
        .distinct().collectAsList().stream().map(x -> x.getString(0)).collect(Collectors.toSet()));
    assertEquals(8, count(out.rejects())); // 4 per kernel, the int8 rerun replaced its own
    assertEquals(3, count(out.runs()));
  }

  @Test
  void aFailureWhileScoringLeavesTheTablesAsTheyWere() throws Exception {
    OutputTables out = new OutputTables(tmp.resolve("out-fail-scoring").toString());
    score(out.root(), Precision.INT8);
    List<Long> before = versions(out);
    Exception e = assertThrows(Exception.class, () -> score(out.root(), Precision.FP32, "testing.fail-partition=1"));
    assertTrue(rootMessage(e).contains("injected failure"), rootMessage(e));
    assertEquals(before, versions(out));
    assertEquals(GOOD, count(out.predictions()));
    assertFalse(Files.exists(Path.of(out.root(), "_joule_staging")), "staging folder removed");
  }

  @Test
  void aFailureWhileCommittingRollsBackWhatWasWritten() {
    OutputTables out = new OutputTables(tmp.resolve("out-fail-commit").toString());
    ScoreResult first = score(out.root(), Precision.INT8);
    List<Row> predictionsBefore = spark.read().format("delta").load(out.predictions())
        .select("id", "run_id", "score").orderBy("id").collectAsList();
    assertThrows(IllegalStateException.class,
        () -> score(out.root(), Precision.INT8, "testing.fail-after-table=rejects"));
    assertEquals(predictionsBefore, spark.read().format("delta").load(out.predictions())
        .select("id", "run_id", "score").orderBy("id").collectAsList());
    assertEquals(Set.of(first.runId()), spark.read().format("delta").load(out.rejects()).select("run_id")
        .distinct().collectAsList().stream().map(x -> x.getString(0)).collect(Collectors.toSet()));
    assertEquals(1, count(out.runs()));
    assertEquals(partitions, count(out.energyLog()));
  }

  @Test
  void aFailedFirstRunLeavesNoTablesBehind() {
    OutputTables out = new OutputTables(tmp.resolve("out-fail-first").toString());
    assertThrows(IllegalStateException.class,
        () -> score(out.root(), Precision.INT8, "testing.fail-after-table=energy_log"));
    for (String t : List.of(out.predictions(), out.rejects(), out.energyLog(), out.runs())) {
      assertFalse(DeltaIO.exists(spark, t), t + " should not exist");
    }
  }

  @Test
  void binaryLayoutScoresExactlyLikeArrayLayout() {
    List<Row> byLayout = new ArrayList<>();
    for (String layout : List.of("array", "binary")) {
      GenerateJob.Output g = new GenerateJob(spark).run(new GenerateJob.Request(500, DIM, 3,
          tmp.resolve("layout-" + layout).toString(), layout, 11, 0.3));
      String outDir = tmp.resolve("out-layout-" + layout).toString();
      new ScoreJob(spark, TestSpark.config(tmp)).run(new ScoreJob.Request(g.embeddings(), g.model(),
          Precision.INT8, outDir, true));
      byLayout.add(spark.read().format("delta").load(outDir + "/predictions")
          .selectExpr("sum(score) AS s", "count(*) AS n", "sum(hash(id, label)) AS h").head());
    }
    assertEquals(byLayout.get(0), byLayout.get(1));
  }

  @Test
  void badInputsGiveErrorsNamingThePathOrColumn() {
    String out = tmp.resolve("out-bad").toString();
    ScoreJob job = new ScoreJob(spark, TestSpark.config(tmp));
    JouleException missing = assertThrows(JouleException.class, () -> job.run(
        new ScoreJob.Request(tmp.resolve("nope").toString(), model, Precision.INT8, out, true)));
    assertEquals(JouleException.INPUT, missing.exitCode());
    assertTrue(missing.getMessage().contains("is not a Delta table") && missing.getMessage().contains("nope"));

    String strings = tmp.resolve("strings").toString();
    spark.sql("SELECT 1L AS id, 'x' AS embedding").write().format("delta").save(strings);
    JouleException type = assertThrows(JouleException.class,
        () -> job.run(new ScoreJob.Request(strings, model, Precision.INT8, out, true)));
    assertTrue(type.getMessage().contains("column 'embedding' has type string"), type.getMessage());

    String noCol = tmp.resolve("nocol").toString();
    spark.sql("SELECT 1L AS key").write().format("delta").save(noCol);
    JouleException col = assertThrows(JouleException.class,
        () -> job.run(new ScoreJob.Request(noCol, model, Precision.INT8, out, true)));
    assertTrue(col.getMessage().contains("has no column 'id' (columns: key)"), col.getMessage());
    assertFalse(DeltaIO.exists(spark, out + "/predictions"));
  }

  @Test
  void idsOnSeveralRowsAreRejectedEveryCopyAndBinaryIdsAreHex() {
    // 300 generated rows with 8-byte binary ids; ids 0 and 1 appear again (0 twice more).
    String ids = tmp.resolve("binary-ids").toString();
    spark.read().format("delta").load(input).filter("id IS NOT NULL AND id < 300")
        .selectExpr("unhex(lpad(hex(id), 16, '0')) AS id", "embedding")
        .union(spark.read().format("delta").load(input).filter("id IN (0, 1, 2)")
            .selectExpr("unhex(lpad(hex(CASE WHEN id = 2 THEN 0 ELSE id END), 16, '0')) AS id", "embedding"))
        .repartition(2).write().format("delta").save(ids);
    String out = tmp.resolve("out-dup").toString();
    ScoreResult r = new ScoreJob(spark, TestSpark.config(tmp))
        .run(new ScoreJob.Request(ids, model, Precision.INT8, out, true));

    assertEquals(303, r.rowsIn());
    assertEquals(298, r.rowsScored());
    assertEquals(Map.of("duplicate_id", 5L), r.rejectReasons());
    Dataset<Row> p = spark.read().format("delta").load(out + "/predictions");
    assertEquals(298, p.select("id").distinct().count(), "one prediction per id");
    assertEquals(1, p.filter(col("id").equalTo("000000000000012b")).count(), "binary ids are lowercase hex");
    Map<String, Long> rejected = spark.read().format("delta").load(out + "/rejects").groupBy("id").count()
        .collectAsList().stream().collect(Collectors.toMap(x -> x.getString(0), x -> x.getLong(1)));
    assertEquals(Map.of("0000000000000000", 3L, "0000000000000001", 2L), rejected);
    String reason = spark.read().format("delta").load(out + "/rejects").filter(col("id").endsWith("0"))
        .head().getAs("reason");
    assertEquals("duplicate_id: id 0000000000000000 is on 3 rows of the input; none of them is scored", reason);

    // A codes table keeps the hex ids; scored from it, the gate finds its fp32 rows by the same ids.
    String codes = tmp.resolve("binary-ids-codes").toString();
    new QuantizeJob(spark, TestSpark.config(tmp)).run(new QuantizeJob.Request(ids, Precision.INT8, codes, codes + "_rejects", null));
    assertEquals(1, spark.read().format("delta").load(codes).filter(col("id").equalTo("000000000000012b")).count());
    String outCodes = tmp.resolve("out-dup-codes").toString();
    ScoreResult fromCodes = new ScoreJob(spark, TestSpark.config(tmp))
        .run(new ScoreJob.Request(codes, model, Precision.INT8, outCodes, true));
    assertEquals(Map.of("duplicate_id", 5L), fromCodes.rejectReasons());
    assertEquals(0, spark.read().format("delta").load(out + "/predictions").select("id", "label")
        .except(spark.read().format("delta").load(outCodes + "/predictions").select("id", "label")).count());

    // More duplicated ids than the bound: refused before scoring, nothing written.
    String outMany = tmp.resolve("out-dup-many").toString();
    JouleException many = assertThrows(JouleException.class, () -> new ScoreJob(spark,
        TestSpark.config(tmp, "score.max-duplicate-ids=1")).run(new ScoreJob.Request(ids, model, Precision.INT8,
        outMany, true)));
    assertEquals(JouleException.INPUT, many.exitCode());
    assertTrue(many.getMessage().contains("has 2 ids on more than one row (id 0000000000000000 is on 3 rows)"),
        many.getMessage());
    assertFalse(DeltaIO.exists(spark, outMany + "/predictions"));
  }

  private List<Long> versions(OutputTables out) {
    List<Long> v = new ArrayList<>();
    for (String t : List.of(out.predictions(), out.rejects(), out.energyLog(), out.runs())) {
      v.add(DeltaIO.latestVersion(spark, t));
    }
    return v;
  }

  static String rootMessage(Throwable t) {
    StringBuilder s = new StringBuilder();
    for (Throwable x = t; x != null; x = x.getCause()) {
      s.append(x.getMessage()).append(" | ");
    }
    return s.toString();
  }
}
