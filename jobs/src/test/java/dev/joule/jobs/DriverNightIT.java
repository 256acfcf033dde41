package dev.joule.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.nightly.NightlyJob;
import dev.joule.jobs.score.OutputTables;
import io.delta.tables.DeltaTable;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A night on the driver alone ({@code nightly.engine = auto}, {@code DriverNight}) against the
 * same night with Spark ({@code nightly.engine = spark}), on twin sources with the same changes:
 * the same tables, and no Spark job.
 */
class DriverNightIT {

  static final int ROWS = 2000;
  static final LocalDate DAY1 = LocalDate.parse("2026-11-01");
  static final LocalDate DAY2 = DAY1.plusDays(1);
  static final AtomicInteger SEQ = new AtomicInteger();

  @TempDir static Path tmp;
  static SparkSession spark;
  static String generated;
  static Path model;
  static final AtomicInteger JOBS = new AtomicInteger();

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(ROWS + 200, 16, 3, tmp.resolve("gen").toString(), "array", 5, 0.3));
    generated = gen.embeddings();
    model = gen.model();
    spark.sparkContext().addSparkListener(new SparkListener() {
      @Override
      public void onJobStart(SparkListenerJobStart job) {
        JOBS.incrementAndGet();
      }
    });
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  record Setup(String source, OutputTables out) {}

  static Setup fresh(boolean changeDataFeed) {
    int n = SEQ.incrementAndGet();
    String source = tmp.resolve("source-" + n).toString();
    spark.read().format("delta").load(generated).filter(col("id").lt(ROWS)).select("id", "embedding")
        .write().format("delta").option("delta.enableChangeDataFeed", String.valueOf(changeDataFeed)).save(source);
    return new Setup(source, new OutputTables(tmp.resolve("night-out-" + n).toString()));
  }

  static NightlyJob.Result night(Setup s, LocalDate d, String... sets) {
    List<String> all = new ArrayList<>(List.of("nightly.source=" + s.source(), "nightly.model=" + model,
        "nightly.output=" + s.out().root()));
    all.addAll(List.of(sets));
    return new NightlyJob(spark, TestSpark.config(tmp, all.toArray(String[]::new)))
        .run(new NightlyJob.Request(d, false, false));
  }

  /** The Spark jobs {@code night} ran. */
  static int jobsOf(Runnable night) {
    drain();
    int before = JOBS.get();
    night.run();
    drain();
    return JOBS.get() - before;
  }

  static void drain() {
    try {
      spark.sparkContext().listenerBus().waitUntilEmpty(30_000);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Day-2 churn: inserts, updates and deletes, and rows the scorer rejects (no embedding, another dim). */
  static void churn(String source) {
    spark.read().format("delta").load(generated).filter(col("id").geq(ROWS).and(col("id").lt(ROWS + 20)))
        .select("id", "embedding").write().format("delta").mode("append").save(source);
    DeltaTable t = DeltaTable.forPath(spark, source);
    t.update(expr("id % 200 = 7 AND id < " + ROWS), java.util.Map.of("embedding", expr("transform(embedding, x -> -x)")));
    t.delete(expr("id % 1000 = 3 AND id < " + ROWS));
    spark.read().format("delta").load(generated).filter(col("id").isin(ROWS + 30, ROWS + 31))
        .selectExpr("id", "CASE WHEN id = " + (ROWS + 30) + " THEN CAST(NULL AS ARRAY<FLOAT>) "
            + "ELSE slice(embedding, 1, 4) END AS embedding")
        .write().format("delta").mode("append").save(source);
  }

  static List<String> rows(String table, String filter, String... columns) {
    return spark.read().format("delta").load(table).filter(filter).selectExpr(columns).orderBy(columns[0])
        .collectAsList().stream().map(Row::toString).toList();
  }

  @Test
  void aSmallNightRunsOnTheDriverWithNoSparkJobAndEqualsTheSameNightOnSpark() {
    Setup onDriver = fresh(true);
    Setup onSpark = fresh(true);
    assertEquals(NightlyJob.Engine.SPARK, night(onDriver, DAY1).engine(), "a first night reads the whole source");
    night(onSpark, DAY1);
    churn(onDriver.source());
    churn(onSpark.source());

    NightlyJob.Result[] d = new NightlyJob.Result[1];
    int jobs = jobsOf(() -> d[0] = night(onDriver, DAY2));
    NightlyJob.Result s = night(onSpark, DAY2, "nightly.engine=spark");
    NightlyJob.Result r = d[0];
    assertEquals(NightlyJob.Engine.DRIVER, r.engine());
    assertEquals(NightlyJob.Engine.SPARK, s.engine());
    assertEquals(0, jobs, "no Spark job in a night on the driver");
    assertEquals("cdf", r.scanMode());
    assertEquals(20 + 10 + 2, r.rowsIn(), "20 inserted, 10 updated, 2 rejected rows");
    assertEquals(List.of(s.rowsIn(), s.scored(), s.rejected(), s.deleted(), s.sourceRows()),
        List.of(r.rowsIn(), r.scored(), r.rejected(), r.deleted(), r.sourceRows()));
    assertEquals(2, r.rejected());

    String[] answer = {"id", "model_id", "model_version", "kernel", "label", "score", "scores", "tombstone"};
    assertEquals(rows(onSpark.out().predictions(), "true", answer), rows(onDriver.out().predictions(), "true", answer));
    assertEquals(rows(onSpark.out().rejects(), "true", "id", "reason", "model_id", "kernel", "run_key"),
        rows(onDriver.out().rejects(), "true", "id", "reason", "model_id", "kernel", "run_key"),
        "the rejects table, created by the driver's night, holds what Spark's holds");
    String[] run = {"run_key", "status", "job", "rows_in", "rows_scored", "rows_rejected", "rows_deleted", "scan_mode",
        "source_version_from", "input_version", "source_changes", "precision", "kernel_id"};
    assertEquals(rows(onSpark.out().runs(), "run_key = '" + s.runKey() + "'", run),
        rows(onDriver.out().runs(), "run_key = '" + r.runKey() + "'", run));
    Row energy = spark.read().format("delta").load(onDriver.out().energyLog())
        .filter(col("run_key").equalTo(r.runKey())).selectExpr("count(*)", "sum(rows_in)", "sum(rows_scored)").head();
    assertEquals(List.of(1L, 32L, 30L), List.of(energy.getLong(0), energy.getLong(1), energy.getLong(2)),
        "one energy row: the driver scored the night as one partition");

    NightlyJob.Result again = night(onDriver, DAY2);
    assertEquals("already_committed", again.status());
    assertEquals(NightlyJob.Engine.DRIVER, again.engine());

    // A night without changes: its runs row, and no partition (no energy row), as on Spark.
    NightlyJob.Result quiet = night(onDriver, DAY2.plusDays(1));
    assertEquals(List.of(NightlyJob.Engine.DRIVER, "none", 0L), List.of(quiet.engine(), quiet.scanMode(), quiet.rowsIn()));
    assertEquals(0, quiet.score().energy().partitions());
    assertEquals(0, spark.read().format("delta").load(onDriver.out().energyLog())
        .filter(col("run_key").equalTo(quiet.runKey())).count());
    assertEquals(1, spark.read().format("delta").load(onDriver.out().runs())
        .filter(col("run_key").equalTo(quiet.runKey())).count());
  }

  @Test
  void aNightWithRewritesTheDriverCannotReadRunsWithSpark() {
    Setup s = fresh(false);
    night(s, DAY1);
    spark.read().format("delta").load(generated).filter(col("id").geq(ROWS + 5).and(col("id").lt(ROWS + 10)))
        .select("id", "embedding").write().format("delta").mode("append").save(s.source());
    // Without a feed every added row is a change: an id added in two versions is a duplicate
    // (both rows rejected), as in Spark's history night.
    spark.read().format("delta").load(generated).filter(col("id").equalTo(ROWS + 9)).select("id", "embedding")
        .write().format("delta").mode("append").save(s.source());
    NightlyJob.Result appended = night(s, DAY2);
    assertEquals(NightlyJob.Engine.DRIVER, appended.engine(), "appends without a feed: the added files");
    assertEquals("history", appended.scanMode());
    assertEquals(6, appended.rowsIn());
    assertEquals(4, appended.scored());
    assertEquals(2, spark.read().format("delta").load(s.out().rejects())
        .filter(col("reason").startsWith("duplicate_id").and(col("id").equalTo(ROWS + 9))).count());
    DeltaTable.forPath(spark, s.source()).delete(expr("id = 5"));
    NightlyJob.Result rewritten = night(s, DAY2.plusDays(1));
    assertEquals(NightlyJob.Engine.SPARK, rewritten.engine(), "a delete rewrote a file, and no feed says which rows");
    assertEquals(1, rewritten.deleted());
  }

  /** A commit that fails after others landed is undone on the driver as on Spark: the tables are as they were. */
  @org.junit.jupiter.params.ParameterizedTest(name = "nightly.engine = {0}")
  @org.junit.jupiter.params.provider.ValueSource(strings = {"auto", "spark"})
  void aNightThatFailsAfterItsFirstCommitsIsUndone(String engine) {
    Setup s = fresh(true);
    night(s, DAY1);
    churn(s.source());
    List<String> before = rows(s.out().predictions(), "true", "id", "label", "score", "run_id");
    long energyBefore = spark.read().format("delta").load(s.out().energyLog()).count();
    long predictionsVersion = DeltaTable.forPath(spark, s.out().predictions()).history(1).head().getLong(0);
    RuntimeException e = assertThrows(RuntimeException.class,
        () -> night(s, DAY2, "nightly.engine=" + engine, "testing.fail-after-table=energy_log"));
    assertTrue(String.valueOf(e.getMessage()).contains("injected failure after writing energy_log"), e.toString());
    assertTrue(DeltaTable.forPath(spark, s.out().predictions()).history(1).head().getLong(0) > predictionsVersion,
        "the night's predictions commit landed, then was undone");
    assertEquals(before, rows(s.out().predictions(), "true", "id", "label", "score", "run_id"));
    assertEquals(energyBefore, spark.read().format("delta").load(s.out().energyLog()).count());
    // (Spark's undo removes the rejects table its failed night created; the driver's leaves it empty.)
    assertTrue(!DeltaTable.isDeltaTable(spark, s.out().rejects())
        || spark.read().format("delta").load(s.out().rejects()).count() == 0, "the rejects appended are undone");
    assertEquals(1, spark.read().format("delta").load(s.out().runs()).count(), "no runs row for the failed night");
    NightlyJob.Result rerun = night(s, DAY2, "nightly.engine=" + engine);
    assertEquals(32, rerun.rowsIn(), "the rerun scores the night whole");
  }
}
