package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.config.JouleSpark;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A task that fails after writing part of its rows is retried by Spark: the run's counts come
 * from the successful attempt only, no row is committed twice, and the failed attempt's file is
 * gone. {@code local[2,2]} lets Spark retry a task once.
 */
class TaskRetryIT {

  static final int ROWS = 4_000;

  @TempDir static Path tmp;
  static SparkSession spark;

  @BeforeAll
  static void setUp() {
    spark = JouleSpark.session(TestSpark.config(tmp, "spark.master=\"local[2,2]\""), "joule-retry-test");
  }

  @AfterAll
  static void tearDown() {
    spark.stop();
  }

  @Test
  void aRetriedTaskIsCountedOnceAndItsRowsCommittedOnce() throws Exception {
    GenerateJob.Output g = new GenerateJob(spark).run(new GenerateJob.Request(ROWS, 8, 3,
        tmp.resolve("gen").toString(), "array", 5, 0.3));
    String out = tmp.resolve("out").toString();
    ScoreResult r = new ScoreJob(spark, TestSpark.config(tmp, "spark.master=\"local[2,2]\"",
        "testing.fail-first-attempt-after-rows=100"))
        .run(new ScoreJob.Request(g.embeddings(), g.model(), Precision.INT8, out, true));
    OutputTables t = new OutputTables(out);
    assertEquals(ROWS, r.rowsIn());
    assertEquals(ROWS, r.rowsScored() + r.rowsRejected());
    var predictions = spark.read().format("delta").load(t.predictions());
    assertEquals(ROWS, predictions.count());
    assertEquals(ROWS, predictions.select("id").distinct().count());
    var energy = spark.read().format("delta").load(t.energyLog());
    assertEquals(r.energy().partitions(), energy.count(), "one energy row per partition, the retried one once");
    assertEquals(1, energy.filter("partition_id = 0").count());
    assertTrue(energy.filter("partition_id = 0").head().<Integer>getAs("attempt_number") >= 1, "partition 0 ran twice");
    long dataFiles;
    try (Stream<Path> s = Files.list(Path.of(t.predictions()))) {
      dataFiles = s.filter(p -> p.getFileName().toString().endsWith(".parquet")).count();
    }
    assertEquals(spark.read().format("delta").load(t.predictions()).inputFiles().length, dataFiles,
        "the failed attempt's file was removed; only committed files are left");
  }
}
