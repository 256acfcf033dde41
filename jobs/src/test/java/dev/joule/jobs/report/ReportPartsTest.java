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

  @Test
  void theHeadlineSaysRatioMethodAgreementAndGate() {
    ScoreResult a = run("a", "softmax@fp32", VM, 3, 0.4);
    ScoreResult b = run("b", "softmax@int8", VM, 4, 0.4);
    Quality q = new Quality("softmax@fp32", "softmax@int8 from codes", 10_000, 0.9987, 0.01, 0.001);
    String h = ClaimCard.compare(a, b, q, "o", ClaimCard.Pairing.of(a, b, 5, true)).headline();
    assertTrue(h.startsWith("softmax@int8 from codes: "), h);
    assertTrue(h.contains("the estimated CPU energy of softmax@fp32 per row (estimated_cputime; thread CPU "), h);
    assertTrue(h.contains("top-1 agreement 99.87 % on 10,000 rows"), h);
    assertTrue(ClaimCard.forRun(b).headline().contains("no saving claimed"));
  }

  @Test
  void aRunWithoutPartitionsNamesTheMachineItRanOn() {
    EnergySummary e = EnergySummary.of(List.of(), 0, PROFILES);
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
