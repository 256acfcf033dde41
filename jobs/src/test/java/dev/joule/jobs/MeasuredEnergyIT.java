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
import dev.joule.udfs.EnergyAccumulators;
import dev.joule.udfs.ExecutorMeters;
import dev.joule.udfs.JouleEnergyListener;
import java.util.HashMap;
import java.util.Map;
import org.apache.spark.status.api.v1.AccumulableInfo;
import org.apache.spark.status.api.v1.StageData;
import scala.jdk.javaapi.CollectionConverters;
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
 * shares and the rest add up to what the counter gained while partitions ran, the named
 * accumulators (listener and Spark UI stage page) hold the energy_log's totals, and the claim
 * card reports the measurement as such.
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
  void partitionsCarryMeasuredSharesTheAccumulatorsAgreeAndTheCardSaysMeasured() {
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(6000, 16, 3, tmp.resolve("gen").toString(), "array", 5, 0.3));
    SteppingCounter counter = new SteppingCounter(3);
    ExecutorMeters.install(counter);
    JouleEnergyListener listener = new JouleEnergyListener();
    spark.sparkContext().addSparkListener(listener);
    String out = tmp.resolve("out").toString();
    ScoreResult r;
    try {
      r = new ScoreJob(spark, TestSpark.config(tmp)).run(
          new ScoreJob.Request(gen.embeddings(), gen.model(), Precision.INT8, out, true));
      spark.sparkContext().listenerBus().waitUntilEmpty(30_000);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError(e);
    } finally {
      spark.sparkContext().removeSparkListener(listener);
      ExecutorMeters.install(null);
    }
    List<Row> log = spark.read().format("delta").load(new OutputTables(out).energyLog()).collectAsList();
    assertEquals(r.energy().partitions(), log.size());
    assertTrue(log.size() >= 2, "several partitions, run two at a time on local[2]");
    double measuredCpu = 0;
    double estimated = 0;
    double measuredAll = 0;
    for (Row row : log) {
      for (Row f : row.<Row>getList(row.fieldIndex("energy"))) {
        estimated += f.getString(1).equals("estimated_cputime") ? f.getDouble(3) : 0;
        measuredAll += f.getString(1).equals("measured_rapl") ? f.getDouble(3) : 0;
      }
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
    // The run's named accumulators, as the listener and the Spark UI's stage page see them.
    JouleEnergyListener.Totals seen = listener.total();
    assertEquals(r.rowsScored(), seen.rows());
    assertEquals(log.size(), seen.tasks());
    assertEquals(estimated, seen.estimatedJ(), 1e-9 * Math.max(1, estimated));
    assertEquals(measuredAll, seen.measuredJ(), 1e-9 * Math.max(1, measuredAll));
    Map<String, Double> onStagePage = new HashMap<>();
    for (StageData stage : CollectionConverters.asJava(spark.sparkContext().statusStore()
        .stageList(null, false, false, new double[0], null))) {
      for (AccumulableInfo a : CollectionConverters.asJava(stage.accumulatorUpdates())) {
        if (a.name().startsWith("joule.")) {
          onStagePage.merge(a.name(), Double.parseDouble(a.value()), Double::sum);
        }
      }
    }
    assertEquals(r.rowsScored(), onStagePage.get(EnergyAccumulators.ROWS), 1e-9);
    assertEquals(estimated, onStagePage.get(EnergyAccumulators.ESTIMATED), 1e-6 * Math.max(1, estimated));
    assertEquals(measuredAll, onStagePage.get(EnergyAccumulators.MEASURED), 1e-6 * Math.max(1, measuredAll));
    String card = ClaimCard.forRun(r).toText();
    assertTrue(card.contains("measured (RAPL/NVML), shares + rest"), card);
    assertTrue(card.contains("measured_rapl") && !card.contains("nothing measured"), card);
  }
}
