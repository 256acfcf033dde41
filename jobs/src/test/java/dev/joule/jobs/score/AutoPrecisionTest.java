package dev.joule.jobs.score;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.energy.OpsBytesModel;
import dev.joule.bridge.kernel.Activation;
import dev.joule.bridge.kernel.Kernel;
import dev.joule.bridge.kernel.Precision;
import dev.joule.bridge.kernel.Similarity;
import dev.joule.bridge.kernel.TopKKernel;
import dev.joule.bridge.model.LinearModelFile;
import dev.joule.bridge.vector.VectorOpsProvider;
import dev.joule.jobs.config.JouleConfig;
import dev.joule.udfs.KernelInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** {@link AutoPrecision#measure}: cheapest modelled first, the first that meets the target, else fp32. */
class AutoPrecisionTest {

  private static final int DIM = 48;
  private static final OpsBytesModel ENERGY = JouleConfig.defaults().energySpec(1).opsBytes();

  /** Heavy-tailed rows and a head with close classes, so that the precisions differ in agreement. */
  private static List<float[]> rows(Random rnd, int n) {
    List<float[]> rows = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      float[] v = new float[DIM];
      for (int d = 0; d < DIM; d++) {
        v[d] = (float) (rnd.nextGaussian() * (d % 7 == 0 ? 4 : 1));
      }
      rows.add(v);
    }
    return rows;
  }

  private static LinearModelFile head(Random rnd, int classes) {
    float[][] w = new float[classes][DIM];
    for (float[] r : w) {
      for (int d = 0; d < DIM; d++) {
        r[d] = (float) (rnd.nextGaussian() * 0.05 + (d < 4 ? rnd.nextGaussian() : 0));
      }
    }
    float[] b = new float[classes];
    List<String> labels = IntStream.range(0, classes).mapToObj(i -> "c" + i).toList();
    return new LinearModelFile("head", "v1", Activation.SOFTMAX, labels, w, b);
  }

  private static List<AutoPrecision.Option> options(List<Kernel> kernels) {
    return kernels.stream().map(k -> {
      KernelInfo info = KernelInfo.of(k, null);
      return new AutoPrecision.Option(AutoPrecision.modelledPicojoulesPerRow(info, ENERGY), k.precision(),
          () -> new AutoPrecision.Candidate(k, info));
    }).toList();
  }

  /** What every choice must satisfy, whatever the target. */
  private static void assertChoiceHolds(AutoPrecision.Measured m, List<Kernel> cs, double target, Kernel exact) {
    List<AutoPrecision.Trial> t = m.choice().trials();
    for (int i = 1; i < t.size(); i++) {
      assertTrue(t.get(i - 1).modelledPicojoulesPerRow() <= t.get(i).modelledPicojoulesPerRow(),
          "cheapest modelled first: " + t);
    }
    for (int i = 0; i < t.size() - 1; i++) {
      assertFalse(t.get(i).meets(), "measuring stops at the first that meets the target: " + t);
      assertTrue(t.get(i).value() < target, t.toString());
    }
    if (m.chosen() >= 0) {
      AutoPrecision.Trial last = t.get(t.size() - 1);
      assertTrue(last.meets() && last.value() >= target, t.toString());
      assertEquals(cs.get(m.chosen()).displayName(), m.choice().chosen());
      assertEquals(last.kernel(), m.choice().chosen());
    } else {
      assertEquals(cs.size(), t.size(), "fp32 only after every candidate missed");
      assertEquals(exact.displayName(), m.choice().chosen());
    }
  }

  @Test
  void headsChooseTheCheapestPrecisionThatMeetsTheTarget() {
    for (int seed = 1; seed <= 4; seed++) {
      Random rnd = new Random(seed);
      LinearModelFile model = head(rnd, 12);
      List<float[]> rows = rows(rnd, 600);
      Kernel exact = model.kernel(Precision.FP32);
      List<Kernel> cs = List.of(model.kernel(Precision.INT8), model.kernel(Precision.INT4));
      for (double target : new double[] {0, 0.9, 0.97, 0.99, 0.999, 1.0, 1.01}) {
        AutoPrecision.Measured m = AutoPrecision.measure(exact, options(cs), rows, target, VectorOpsProvider.get());
        assertChoiceHolds(m, cs, target, exact);
        if (target == 0) {
          assertEquals(1, m.choice().trials().size(), "any kernel meets 0: the cheapest is taken");
        }
        if (target > 1) {
          assertEquals(-1, m.chosen());
        }
      }
    }
  }

  @Test
  void aKernelThatAgreesEverywhereMeetsEvenTheTopTarget() {
    Random rnd = new Random(7);
    LinearModelFile model = head(rnd, 5);
    Kernel exact = model.kernel(Precision.FP32);
    // fp32 as a candidate agrees with itself on every row.
    AutoPrecision.Measured m = AutoPrecision.measure(exact, options(List.of(exact)), rows(rnd, 200), 1.0,
        VectorOpsProvider.get());
    assertEquals(0, m.chosen());
    assertEquals(1.0, m.choice().trials().get(0).value());
  }

  @Test
  void topkTriesRescoringAndRecordsRecallOfEachCandidate() {
    Random rnd = new Random(3);
    int n = 400;
    List<float[]> refs = rows(rnd, n);
    float[] values = new float[n * DIM];
    for (int i = 0; i < n; i++) {
      System.arraycopy(refs.get(i), 0, values, i * DIM, DIM);
    }
    List<String> ids = IntStream.range(0, n).mapToObj(i -> "r" + i).toList();
    Kernel exact = TopKKernel.fromReference(values, n, DIM, ids, Similarity.COSINE, 5, Precision.FP32, 1, null);
    List<Kernel> ks = new ArrayList<>();
    for (Precision p : List.of(Precision.BINARY, Precision.INT4)) {
      ks.add(TopKKernel.fromReference(values, n, DIM, ids, Similarity.COSINE, 5, p, 1, null));
      for (int o : new int[] {2, 4, 10}) {
        ks.add(TopKKernel.fromReference(values, n, DIM, ids, Similarity.COSINE, 5, p, o, Precision.INT8));
      }
    }
    ks.add(TopKKernel.fromReference(values, n, DIM, ids, Similarity.COSINE, 5, Precision.INT8, 1, null));
    List<float[]> queries = rows(rnd, 120);
    double cheapest = Double.NaN;
    for (double target : new double[] {0, 0.8, 0.95, 0.99, 1.01}) {
      AutoPrecision.Measured m = AutoPrecision.measure(exact, options(ks), queries, target, VectorOpsProvider.get());
      assertChoiceHolds(m, ks, target, exact);
      assertEquals("recall@5", m.choice().metric());
      if (target == 0) {
        cheapest = m.choice().trials().get(0).modelledPicojoulesPerRow();
      }
      if (target > 1) {
        // every candidate measured: the cheapest is a binary one (a bit per value, popcounts)
        assertEquals(Precision.BINARY.label(), m.choice().trials().get(0).precision(), m.choice().describe());
        assertEquals(cheapest, m.choice().trials().get(0).modelledPicojoulesPerRow());
      }
    }
  }

  /**
   * The order auto measures in: fewer reference bytes cost less (binary, int4, int8, fp32), and
   * each rescored candidate costs its int8 rows of the k × oversample candidates more, not the
   * whole rescoring reference.
   */
  @Test
  void topkCostsFollowTheBytesEachKernelReads() {
    Random rnd = new Random(5);
    int n = 300;
    int k = 5;
    float[] values = new float[n * DIM];
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) rnd.nextGaussian();
    }
    List<String> ids = IntStream.range(0, n).mapToObj(i -> "r" + i).toList();
    double last = 0;
    for (Precision p : List.of(Precision.BINARY, Precision.INT4, Precision.INT8, Precision.FP32)) {
      double cost = AutoPrecision.modelledPicojoulesPerRow(KernelInfo.of(
          TopKKernel.fromReference(values, n, DIM, ids, Similarity.COSINE, k, p, 1, null), null), ENERGY);
      assertTrue(cost > last, p + " costs " + cost + ", the precision below it " + last);
      last = cost;
    }
    TopKKernel plain = TopKKernel.fromReference(values, n, DIM, ids, Similarity.COSINE, k, Precision.INT4, 1, null);
    for (int o : new int[] {2, 4, 10, 100}) {
      TopKKernel rescored = TopKKernel.fromReference(values, n, DIM, ids, Similarity.COSINE, k, Precision.INT4, o,
          Precision.INT8);
      assertEquals((long) Math.min(n, k * o) * (DIM + 8), rescored.parameterBytes() - plain.parameterBytes(),
          "oversample " + o + ": the candidates' int8 rows (codes, scale, norm)");
    }
  }

  @Test
  void autoOversampleTakesWholeNumbersOnly() {
    JouleConfig c = JouleConfig.defaults();
    assertEquals(List.of(2, 4, 10), AutoPrecision.autoOversample(c));
    for (String bad : new String[] {"[2.5]", "[0]", "4", "[\"x\"]"}) {
      dev.joule.jobs.JouleException e = org.junit.jupiter.api.Assertions.assertThrows(
          dev.joule.jobs.JouleException.class, () -> AutoPrecision.autoOversample(c.with("topk.auto-oversample", bad)));
      assertTrue(e.getMessage().contains("topk.auto-oversample"), e.getMessage());
    }
  }

  @Test
  void theGateIsRaisedToATargetAboveItsBarAndNeverLowered() {
    JouleConfig c = JouleConfig.defaults();
    double bar = QualityGate.Settings.from(c).minAgreement();
    AutoPrecision.Choice above = new AutoPrecision.Choice("top1_agreement", 0.999, 10, List.of(), "x");
    assertEquals(0.999, QualityGate.Settings.from(AutoPrecision.gateConfig(c, above)).minAgreement());
    AutoPrecision.Choice below = new AutoPrecision.Choice("top1_agreement", 0.5, 10, List.of(), "x");
    assertEquals(bar, QualityGate.Settings.from(AutoPrecision.gateConfig(c, below)).minAgreement());
    AutoPrecision.Choice recall = new AutoPrecision.Choice("recall@10", 0.99, 10, List.of(), "x");
    assertEquals(0.99, QualityGate.Settings.from(AutoPrecision.gateConfig(c, recall)).minRecall());
    assertEquals(bar, AutoPrecision.target(c, false), "no target: the gate's bar");
    assertEquals(bar, AutoPrecision.target(c.with("quality.target-agreement", "0.9"), false),
        "a target below the bar aims at the bar: the run's gate would refuse anything less");
    assertEquals(0.999, AutoPrecision.target(c.with("quality.target-agreement", "0.999"), false));
  }
}
