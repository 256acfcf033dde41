package dev.joule.jobs.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.energy.HardwareProfile;
import dev.joule.bridge.energy.PowerProfile;
import dev.joule.jobs.score.ScoreResult;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.knowm.xchart.XYChart;

/** The claim card's pairing words, warnings and headline, and the precision chart's axis and gate line. No Spark. */
class ReportPartsTest {

  static final List<PowerProfile> PROFILES = List.of(new PowerProfile("generic", "", true, 1, 2, 4, 0.4, "t"));
  static final HardwareProfile VM = new HardwareProfile("AMD EPYC", 2, true, 24_000_000_000L, false, null);

  static ScoreResult run(String id, String kernel, HardwareProfile hw, int jvmRunsBefore, double load) {
    EnergySummary e = EnergySummary.of(List.of(), 2_000_000_000L, PROFILES, hw, jvmRunsBefore).withLoad(load);
    return new ScoreResult(id, "in", 1, "out", "m", "1", kernel, "k-" + kernel, kernel.substring(kernel.indexOf('@') + 1),
        8, 2, 0, 0, 0, Map.of(), e, 1_000_000_000L, true, null);
  }

  @Test
  void twoRunsAreNeverOneRunAndColdOrLoadedRunsAreWarnedAbout() {
    ScoreResult a = run("a", "softmax@fp32", VM, 3, 0.4);
    ScoreResult b = run("b", "softmax@int8", VM, 4, 0.5);
    ClaimCard.Pairing warm = ClaimCard.Pairing.of(a, b, 42 * 60, false);
    assertEquals("two runs, 42 minutes apart, same machine", warm.words());
    assertEquals(List.of(), warm.warnings());
    ClaimCard card = ClaimCard.compare(a, b, null, "fp32 then int8", warm);
    assertFalse(card.toText().contains("same run"), card.toText());
    assertTrue(card.toText().contains("same rows, two runs, 42 minutes apart, same machine"), card.toText());

    ClaimCard.Pairing cold = ClaimCard.Pairing.of(run("a", "softmax@fp32", VM, 0, 0.4), run("b", "softmax@int8", VM, 0, 2.5),
        12, true);
    assertEquals("two runs of one command, 12 s apart, same machine", cold.words());
    assertEquals(3, cold.warnings().size(), cold.warnings().toString());
    assertTrue(cold.warnings().get(0).contains("cold JVM without warm-up"), cold.warnings().toString());
    assertTrue(cold.warnings().get(2).contains("load differed (1-minute load average 0.40"), cold.warnings().toString());
    String text = ClaimCard.compare(a, b, null, "o", cold).toText();
    assertTrue(text.contains("WARNING      the baseline (softmax@fp32) ran in a cold JVM"), text);

    HardwareProfile other = new HardwareProfile("Intel Xeon", 2, true, 24_000_000_000L, false, null);
    ClaimCard.Pairing apart = ClaimCard.Pairing.of(a, run("c", "softmax@int8", other, 2, 0.4), 3 * 3600, false);
    assertTrue(apart.words().startsWith("two runs, 3.0 hours apart, DIFFERENT machines"), apart.words());
  }

  static final dev.joule.bridge.energy.OpsBytesModel OPS =
      new dev.joule.bridge.energy.OpsBytesModel(4.6, 0.3, 3.7, 162.5, 325, 1.25, 12.5, "t");

  /** A run of 1,000 rows in one partition whose task used {@code cpuNanos} of CPU, as the energy_log holds it. */
  static ScoreResult measuredRun(String id, String kernel, long cpuNanos) {
    PowerProfile p = PROFILES.get(0);
    org.apache.spark.sql.Row row = dev.joule.udfs.EnergyRecord.asRead(dev.joule.udfs.EnergyRecord.toRow(
        new dev.joule.udfs.EnergyRecord.Work(id, "score", 8, "k", kernel, "int8"),
        new dev.joule.udfs.EnergyRecord.TaskIdentity(0, 0, 0, 0, 0, "driver", "localhost"),
        new dev.joule.udfs.EnergyRecord.Bridge("in-process", "in-process", 0, 0), "scalar",
        new dev.joule.udfs.EnergyRecord.Counters(1000, 1000, 0, 100_000, 0, 10_000, 128, 8, 1, 0L, 2 * cpuNanos,
            cpuNanos, cpuNanos / 10, 0, 12.0),
        dev.joule.bridge.energy.CpuTimeEstimator.estimate(cpuNanos, 110_000, VM, p, OPS), VM, p));
    EnergySummary e = EnergySummary.of(List.of(row), 0, PROFILES, VM, 5);
    return new ScoreResult(id, "in", 1, "out", "m", "1", kernel, "k-" + kernel, kernel.substring(kernel.indexOf('@') + 1),
        8, 2, 1000, 1000, 0, Map.of(), e, 1_000_000_000L, true, null);
  }

  @Test
  void theHeadlineSaysRatioMethodAgreementAndGate() {
    ScoreResult a = measuredRun("a", "softmax@fp32", 2_000_000_000L);
    ScoreResult b = measuredRun("b", "softmax@int8", 1_000_000_000L);
    Quality q = new Quality("softmax@fp32", "softmax@int8 from codes", 10_000, 0.9987, 0.01, 0.001);
    String h = ClaimCard.compare(a, b, q, "o", ClaimCard.Pairing.of(a, b, 5, true)).headline();
    assertTrue(h.startsWith("softmax@int8 from codes: "), h);
    assertTrue(h.contains(": 0.50\u00d7 the estimated CPU and DRAM energy of softmax@fp32 per row (estimated_cputime; thread CPU "
        + "0.50\u00d7)"), h);
    // Runs with nothing to divide say n/a, never NaN.
    ScoreResult empty = run("c", "softmax@int8", VM, 4, 0.4);
    String none = ClaimCard.compare(run("d", "softmax@fp32", VM, 3, 0.4), empty, null, "o",
        ClaimCard.Pairing.of(a, b, 5, true)).headline();
    assertTrue(none.contains("n/a the estimated") && !none.contains("NaN"), none);
    assertTrue(h.contains("top-1 agreement 99.87 % on 10,000 rows"), h);
    assertTrue(ClaimCard.forRun(b).headline().contains("no saving claimed"));
  }

  /** A partition's energy_log row: {@code gpuJ} measured on a GPU node (none if null), scored by {@code ops}. */
  static org.apache.spark.sql.Row partition(Double gpuJ, String ops) {
    List<dev.joule.bridge.energy.EnergyFigure> f = new java.util.ArrayList<>(List.of(new dev.joule.bridge.energy.EnergyFigure(
        "cpu", dev.joule.bridge.energy.EnergyMethod.ESTIMATED_CPUTIME, "exclusive", 2.0, 1.0, 4.0)));
    if (gpuJ != null) {
      f.add(new dev.joule.bridge.energy.EnergyFigure("gpu", dev.joule.bridge.energy.EnergyMethod.MEASURED_NVML,
          "rows_share", gpuJ, gpuJ, gpuJ));
      f.add(new dev.joule.bridge.energy.EnergyFigure("gpu_idle", dev.joule.bridge.energy.EnergyMethod.MEASURED_NVML,
          "rows_share", 3 * gpuJ, 3 * gpuJ, 3 * gpuJ));
    }
    return dev.joule.udfs.EnergyRecord.asRead(dev.joule.udfs.EnergyRecord.toRow(
        new dev.joule.udfs.EnergyRecord.Work("r", "score", 8, "k", "softmax@int8", "int8"),
        new dev.joule.udfs.EnergyRecord.TaskIdentity(0, 0, 0, 0, 0, "driver", "localhost"),
        new dev.joule.udfs.EnergyRecord.Bridge("flight(1 nodes, fallback fail)", "accel@n:1", 0, 0), ops,
        new dev.joule.udfs.EnergyRecord.Counters(1000, 1000, 0, 100_000, 0, 10_000, 128, 8, 1, 0L, 2_000_000_000L,
            1_000_000_000L, 100_000_000L, 0, 2.0), f, VM, PROFILES.get(0)));
  }

  @Test
  void aMeasuredRatioNeedsEveryPartitionMeasuredOnTheSameKindOfDevice() {
    EnergySummary whole = EnergySummary.of(List.of(partition(1.0, "cuda H200"), partition(2.0, "cuda H200")), 0, PROFILES, VM, 1);
    assertTrue(whole.whollyMeasured());
    assertEquals(12.0, whole.measuredJ(), 1e-9, "above idle and idle add up");
    assertEquals(Map.of("measured_nvml gpu", 3.0, "measured_nvml gpu_idle", 9.0), whole.measuredParts());
    EnergySummary part = EnergySummary.of(List.of(partition(1.0, "cuda H200"), partition(null, "panama-512")), 0,
        PROFILES, VM, 1);
    assertTrue(part.measured() && !part.whollyMeasured());
    assertEquals(1, part.unmeasuredPartitions());
    EnergySummary other = EnergySummary.of(List.of(partition(1.0, "cuda H100")), 0, PROFILES, VM, 1);
    assertTrue(whole.measuredLike(EnergySummary.of(List.of(partition(5.0, "cuda H200")), 0, PROFILES, VM, 1)));
    assertTrue(!whole.measuredLike(part) && !part.measuredLike(whole), "a run measured in part");
    assertTrue(!whole.measuredLike(other), "another GPU");
    assertTrue(ClaimCard.noMeasuredRatio(whole, part).contains("some partitions were not measured"));
    assertTrue(ClaimCard.noMeasuredRatio(whole, other).contains("measured on different devices"));
  }

  /**
   * An energy_log row as written before the estimate was split: no bytes_written or load_avg_1m
   * column, and one estimated "dram" component. It still sums, its DRAM counted as background.
   */
  @Test
  void olderEnergyRowsStillSum() {
    EnergySummary e = EnergySummary.of(List.of(legacyRow()), 0, PROFILES, VM, -1);
    assertEquals(1000, e.rowsScored());
    assertEquals(0, e.bytesWritten());
    assertTrue(Double.isNaN(e.loadAvg1m()));
    assertEquals(2.0, e.estimatedParts().cpuJ(), 1e-9);
    assertEquals(0.75, e.estimatedParts().dramBackgroundJ(), 1e-9, "the old dram term, as background");
    assertEquals(2.75, e.estimatedJ(), 1e-9);
  }

  static org.apache.spark.sql.Row legacyRow() {
    org.apache.spark.sql.Row full = dev.joule.udfs.EnergyRecord.asRead(dev.joule.udfs.EnergyRecord.toRow(
        new dev.joule.udfs.EnergyRecord.Work("old", "score", 8, "k", "softmax@fp32", "fp32"),
        new dev.joule.udfs.EnergyRecord.TaskIdentity(0, 0, 0, 0, 0, "driver", "localhost"),
        new dev.joule.udfs.EnergyRecord.Bridge("in-process", "in-process", 0, 0), "scalar",
        new dev.joule.udfs.EnergyRecord.Counters(1000, 1000, 0, 100_000, 0, 10_000, 128, 8, 1, 0L, 2_000_000_000L,
            1_000_000_000L, 100_000_000L, 0, 2.0),
        List.of(new dev.joule.bridge.energy.EnergyFigure("cpu", dev.joule.bridge.energy.EnergyMethod.ESTIMATED_CPUTIME,
                "exclusive", 2.0, 1.0, 4.0),
            new dev.joule.bridge.energy.EnergyFigure("dram", dev.joule.bridge.energy.EnergyMethod.ESTIMATED_CPUTIME,
                "exclusive", 0.75, 0.75, 0.75)), VM, PROFILES.get(0)));
    org.apache.spark.sql.types.StructType old = new org.apache.spark.sql.types.StructType(java.util.Arrays.stream(
        full.schema().fields()).filter(f -> !f.name().equals("bytes_written") && !f.name().equals("load_avg_1m"))
        .toArray(org.apache.spark.sql.types.StructField[]::new));
    Object[] values = java.util.Arrays.stream(old.fieldNames()).map(n -> full.get(full.fieldIndex(n))).toArray();
    return new org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema(values, old);
  }

  @Test
  void aRunWithoutPartitionsNamesTheMachineItRanOn() {
    EnergySummary e = EnergySummary.of(List.of(), 0, PROFILES, -1);
    HardwareProfile here = HardwareProfile.detect();
    assertEquals(here.cpuModel(), e.cpuModel());
    assertTrue(e.vcpus() > 0 && e.ramBytes() > 0, "not 0 vCPU, not 0 GiB");
  }

  @Test
  void thePrecisionChartSpansItsPointsAndTheGateBar() {
    List<ReportHtml.Point> points = List.of(
        new ReportHtml.Point("softmax@fp32", "a", 1.0, 0.5, 2.0, "estimated_cputime", 1.0, "itself", 100, Double.NaN),
        new ReportHtml.Point("softmax@int8", "b", 0.6, 0.3, 1.2, "estimated_cputime", 0.9987, "a", 100, 0.995),
        new ReportHtml.Point("softmax@int4", "c", 0.5, 0.25, 1.0, "estimated_cputime", 0.9990, "a", 100, 0.995));
    XYChart c = ReportHtml.precisionChart(points);
    assertTrue(c.getSeries("quality gate bar 99.50 %") != null,
        c.getSeriesCollection().stream().map(s -> s.getName()).toList().toString());
    double[] gateX = c.getSeries("quality gate bar 99.50 %").getXData();
    assertEquals(99.5, gateX[0], 1e-9);
    double min = c.getStyler().getXAxisMin();
    double max = c.getStyler().getXAxisMax();
    assertTrue(min < 99.5 && min > 98.5, "the axis starts just below the bar: " + min);
    assertTrue(max > 100 && max < 100.2, "and ends just above 100 %: " + max);
    // Bounds are drawn as whiskers: low to high of each kernel.
    double[] whisker = c.getSeries("softmax@int8 bounds").getYData();
    assertEquals(0.3, whisker[0], 1e-12);
    assertEquals(1.2, whisker[1], 1e-12);
  }
}
