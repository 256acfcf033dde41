package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.energy.meter.SteppingCounter;
import dev.joule.bridge.kernel.Precision;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.report.ClaimCard;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import dev.joule.udfs.ExecutorMeters;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A score run on local Spark with a measured counter in the executor (a stand-in for RAPL, which
 * these VMs lack): every partition's row carries measured figures beside the estimates, the
 * shares and the rest add up to what the counter gained while partitions ran, and the claim card
 * reports the measurement as such.
 */
class MeasuredEnergyIT {

  @TempDir static Path tmp;
  static SparkSession spark;

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
  }

  @AfterAll
  static void tearDown() {
    ExecutorMeters.install(null);
    spark.stop();
  }

  @Test
  void partitionsCarryMeasuredSharesThatAddUpAndTheCardSaysMeasured() {
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(6000, 16, 3, tmp.resolve("gen").toString(), "array", 5, 0.3));
    SteppingCounter counter = new SteppingCounter(3);
    ExecutorMeters.install(counter);
    String out = tmp.resolve("out").toString();
    ScoreResult r;
    try {
      r = new ScoreJob(spark, TestSpark.config(tmp)).run(
          new ScoreJob.Request(gen.embeddings(), gen.model(), Precision.INT8, out, true));
    } finally {
      ExecutorMeters.install(null);
    }
    List<Row> log = spark.read().format("delta").load(new OutputTables(out).energyLog()).collectAsList();
    assertEquals(r.energy().partitions(), log.size());
    assertTrue(log.size() >= 2, "several partitions, run two at a time on local[2]");
    double measuredCpu = 0;
    for (Row row : log) {
      assertTrue(row.<Boolean>getAs("hw_rapl_available"));
      List<Row> figures = row.getList(row.fieldIndex("energy"));
      List<Row> measured = figures.stream().filter(f -> f.getString(1).equals("measured_rapl")).toList();
      assertTrue(measured.stream().anyMatch(f -> f.getString(0).equals("cpu") && f.getString(2).equals("cpu_time_share")),
          "partition " + row.getAs("partition_id") + ": " + measured);
      assertTrue(figures.stream().anyMatch(f -> f.getString(1).equals("estimated_cputime")));
      measuredCpu += measured.stream().filter(f -> f.getString(0).equals("cpu")).mapToDouble(f -> f.getDouble(3)).sum();
    }
    // Every reading but the first of each busy period adds 3 J that some row must carry: two
    // readings per partition, at least one busy period, at most one per partition.
    int reads = counter.reads();
    assertEquals(2 * log.size(), reads);
    assertTrue(measuredCpu <= 3.0 * (reads - 1) + 1e-9 && measuredCpu >= 3.0 * (reads - log.size()) - 1e-9,
        "measured " + measuredCpu + " J from " + reads + " readings");
    assertTrue(r.energy().measured());
    assertEquals(measuredCpu * 5 / 4, r.energy().measuredJ(), 1e-6, "cpu + dram, shares and rest");
    String card = ClaimCard.forRun(r).toText();
    assertTrue(card.contains("measured (RAPL/NVML), shares + rest"), card);
    assertTrue(card.contains("measured_rapl") && !card.contains("nothing measured"), card);
  }
}
