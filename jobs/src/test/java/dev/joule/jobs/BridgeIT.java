package dev.joule.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.energy.meter.IdlePower;
import dev.joule.bridge.energy.meter.SteadyGpuCounter;
import dev.joule.bridge.flight.AcceleratorNodeServer;
import dev.joule.bridge.flight.FlightTransport;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.node.MeteredCpuBackend;
import dev.joule.bridge.node.NodeMeter;
import dev.joule.jobs.delta.DeltaIO;
import dev.joule.jobs.generate.GenerateJob;
import dev.joule.jobs.report.ClaimCard;
import dev.joule.jobs.report.EnergySummary;
import dev.joule.jobs.score.OutputTables;
import dev.joule.jobs.score.ScoreJob;
import dev.joule.jobs.score.ScoreResult;
import dev.joule.udfs.PartitionScorer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * score through real Flight accelerator nodes on 127.0.0.1, from real local[2] Spark into real
 * Delta tables: the same predictions as the in-process node, a node dying mid-run costs a retry
 * and never a row, and with every node down the fallback decides.
 */
class BridgeIT {

  static final int ROWS = 3000;
  static final int DIM = 16;

  @TempDir static Path tmp;
  static SparkSession spark;
  static String input;
  static Path model;
  static List<Row> inProcess;
  static int partitions;
  final List<AcceleratorNodeServer> nodes = new ArrayList<>();

  @BeforeAll
  static void setUp() {
    spark = TestSpark.start(tmp);
    GenerateJob.Output gen = new GenerateJob(spark).run(
        new GenerateJob.Request(ROWS, DIM, 4, tmp.resolve("gen").toString(), "array", 11, 0.3));
    model = gen.model();
    input = tmp.resolve("input").toString();
    spark.read().format("delta").load(gen.embeddings()).select("id", "embedding").repartition(3)
        .write().format("delta").save(input);
    partitions = spark.read().format("delta").load(input).rdd().getNumPartitions();
    OutputTables ref = new OutputTables(tmp.resolve("in-process").toString());
    score(ref.root());
    inProcess = predictions(ref);
  }

  @AfterAll
  static void tearDown() {
    FlightTransport.closeShared();
    spark.stop();
  }

  @AfterEach
  void stopNodes() throws Exception {
    for (AcceleratorNodeServer n : nodes) {
      n.close();
    }
    assertEquals(0, PartitionScorer.rootAllocator().getAllocatedMemory(), "executor buffers all released");
  }

  static ScoreResult score(String output, String... sets) {
    return new ScoreJob(spark, TestSpark.config(tmp, sets))
        .run(new ScoreJob.Request(input, model, Precision.INT8, output, true));
  }

  static List<Row> predictions(OutputTables out) {
    return spark.read().format("delta").load(out.predictions()).select("id", "label", "score", "scores")
        .orderBy("id").collectAsList();
  }

  AcceleratorNodeServer node(AcceleratorNodeServer.Options o) throws Exception {
    AcceleratorNodeServer n = AcceleratorNodeServer.start(o);
    nodes.add(n);
    return n;
  }

  static String nodesSetting(AcceleratorNodeServer... ns) {
    List<String> a = new ArrayList<>();
    for (AcceleratorNodeServer n : ns) {
      a.add("\"" + n.address() + "\"");
    }
    return "bridge.nodes=[" + String.join(",", a) + "]";
  }

  @Test
  void twoNodesScoreLikeTheInProcessNode() throws Exception {
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback());
    AcceleratorNodeServer b = node(AcceleratorNodeServer.Options.loopback());
    OutputTables out = new OutputTables(tmp.resolve("two-nodes").toString());
    ScoreResult r = score(out.root(), nodesSetting(a, b), "bridge.fallback=fail");
    assertEquals(ROWS, r.rowsScored());
    assertEquals(inProcess, predictions(out));

    Dataset<Row> energy = spark.read().format("delta").load(out.energyLog());
    List<String> used = energy.select("node_id").collectAsList().stream().map(x -> x.getString(0)).toList();
    assertTrue(used.stream().allMatch(n -> n.equals(a.nodeId()) || n.equals(b.nodeId())), used.toString());
    assertTrue(a.batchesAnswered() + b.batchesAnswered() >= 3, "the nodes did the scoring");
    assertTrue(a.kernelPushes() <= 1 && b.kernelPushes() <= 1 && a.kernelPushes() + b.kernelPushes() >= 1,
        "each node used got the kernel once: " + a.kernelPushes() + ", " + b.kernelPushes());
    // the nodes' own energy figures are in the log, labelled as estimates
    assertEquals(partitions, energy.selectExpr("explode(energy) AS e").filter("e.component = 'node_cpu'")
        .filter("e.method = 'estimated_cputime'").count());
    String bridge = spark.read().format("delta").load(out.runs()).head().getAs("bridge");
    assertTrue(bridge.startsWith("flight(2 nodes, fallback fail)"), bridge);
  }

  @Test
  void aMeasuredNodesGpuEnergyReachesTheEnergyLogAndTheClaimCardBesideTheEstimates() throws Exception {
    SteadyGpuCounter gpu = new SteadyGpuCounter(200);
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback()
        .withMeter(new NodeMeter(gpu, new IdlePower(Map.of("gpu", 120.0)), gpu)).withBackend(new MeteredCpuBackend()));
    OutputTables out = new OutputTables(tmp.resolve("measured-node").toString());
    ScoreResult r = score(out.root(), nodesSetting(a), "bridge.fallback=fail");
    assertEquals(inProcess, predictions(out));

    Dataset<Row> figures = spark.read().format("delta").load(out.energyLog()).selectExpr("explode(energy) AS e")
        .selectExpr("e.component", "e.method", "e.attribution", "e.joules");
    List<Row> gpuFigures = figures.filter("component IN ('gpu', 'gpu_idle')").collectAsList();
    assertTrue(gpuFigures.stream().allMatch(f -> f.getString(1).equals("measured_nvml")), gpuFigures.toString());
    double above = figures.filter("component = 'gpu'").selectExpr("sum(joules)").head().getDouble(0);
    double idle = figures.filter("component = 'gpu_idle'").selectExpr("sum(joules)").head().getDouble(0);
    assertEquals(80.0 / 120.0, above / idle, 1e-6, "200 W against 120 W idle");
    assertTrue(above + idle <= gpu.joulesSoFar() + 1e-9, "no more than the counter measured");
    // the node's CPU time stays an estimate beside it
    assertEquals(partitions, figures.filter("component = 'node_cpu' AND method = 'estimated_cputime'").count());

    EnergySummary e = r.energy();
    assertTrue(e.measured());
    assertEquals(above + idle, e.measuredJ(), 1e-6 * (above + idle));
    assertEquals(java.util.Set.of("measured_nvml gpu", "measured_nvml gpu_idle"), e.measuredParts().keySet());
    String card = ClaimCard.forRun(r).toText();
    assertTrue(card.contains("measured (RAPL/NVML), shares + rest") && card.contains("of which NVML gpu, idle draw")
        && card.contains("estimated_cputime, whole task"), card);
    assertTrue(ClaimCard.forRun(r).toJson().contains("measured_nvml gpu_idle"), ClaimCard.forRun(r).toJson());

    // A measured ratio needs the same devices measured on both sides: not against an estimated run.
    ScoreResult estimated = score(tmp.resolve("measured-node-baseline").toString());
    assertTrue(!estimated.energy().measuredLike(e) && !e.measuredLike(estimated.energy()));
    String pair = ClaimCard.compare(estimated, r, null, "baseline first", null).toText();
    assertTrue(pair.contains("no RAPL/NVML in both runs, so no measured ratio"), pair);
  }

  @Test
  void aNodeDyingMidRunCostsARetryNotARow() throws Exception {
    // It dies after its first answer; every partition has several batches, so the partition it
    // holds must move (which partition that is depends on scheduling).
    AcceleratorNodeServer dying = node(AcceleratorNodeServer.Options.loopback().withStopAfterBatches(1));
    AcceleratorNodeServer healthy = node(AcceleratorNodeServer.Options.loopback());
    OutputTables out = new OutputTables(tmp.resolve("dying").toString());
    ScoreResult r = score(out.root(), nodesSetting(dying, healthy), "bridge.fallback=fail", "score.batch-rows=256");
    assertTrue(dying.stopped());
    assertEquals(1, dying.batchesAnswered());
    assertEquals(ROWS, r.rowsScored());
    Dataset<Row> p = spark.read().format("delta").load(out.predictions());
    assertEquals(ROWS, p.count());
    assertEquals(ROWS, p.select("id").distinct().count(), "no id twice");
    assertEquals(inProcess, predictions(out));
    long failovers = spark.read().format("delta").load(out.energyLog()).selectExpr("sum(failovers)").head().getLong(0);
    assertTrue(failovers >= 1, "the energy log records the failover");
    String bridge = spark.read().format("delta").load(out.runs()).head().getAs("bridge");
    assertTrue(bridge.contains("failover"), bridge);
  }

  @Test
  void allNodesDownFallsBackInProcessOrFailsLeavingTablesUnchanged() throws Exception {
    AcceleratorNodeServer a = node(AcceleratorNodeServer.Options.loopback());
    String down = nodesSetting(a);
    a.close();
    nodes.clear();

    OutputTables out = new OutputTables(tmp.resolve("all-down").toString());
    ScoreResult r = score(out.root(), down, "bridge.fallback=in-process", "bridge.cooldown=1s");
    assertEquals(ROWS, r.rowsScored());
    assertEquals(inProcess, predictions(out));
    String bridge = spark.read().format("delta").load(out.runs()).head().getAs("bridge");
    assertTrue(bridge.contains("fallback in-process") && bridge.contains("in " + partitions + " partitions"), bridge);

    List<Long> before = new ArrayList<>();
    for (String t : List.of(out.predictions(), out.rejects(), out.energyLog(), out.runs())) {
      before.add(DeltaIO.exists(spark, t) ? DeltaIO.latestVersion(spark, t) : -1L);
    }
    JouleException e = assertThrows(JouleException.class,
        () -> score(out.root(), down, "bridge.fallback=fail", "bridge.cooldown=1s"));
    assertTrue(e.getMessage().startsWith("scoring failed, nothing committed: no accelerator node could score"),
        e.getMessage());
    assertTrue(e.getMessage().contains(a.address()) && e.getMessage().contains("bridge.fallback = fail"), e.getMessage());
    List<Long> after = new ArrayList<>();
    for (String t : List.of(out.predictions(), out.rejects(), out.energyLog(), out.runs())) {
      after.add(DeltaIO.exists(spark, t) ? DeltaIO.latestVersion(spark, t) : -1L);
    }
    assertEquals(before, after, "tables unchanged");
    assertFalse(e.getMessage().contains("\tat "), "no stack trace in the message");
  }
}
