package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 17: a classifier head fitted like MLlib's LogisticRegression (standardized internally,
 * unregularized, weights mapped back to raw units) on sparse, non-negative, unnormalized count
 * rows with a few rarely active columns and bursts ({@link PlantedOutlierHead#fitted}). Its weights
 * on the rare columns are hundreds of times the median. Top-1 agreement of the quantized kernel
 * with the exact fp32 arg-max, on the rows it was fitted on, each at the precision the kernel asks
 * for, per seed.
 *
 * <p>Dim 256: there the fitted head is a confident classifier, as a head worth serving is (the
 * digits head of the issue is right on ~all its rows). At dims 64 and 128 the same recipe gives a
 * weak one: ~4% of rows have a top-2 logit gap under 2% of the logit spread, and the
 * column-channel int8 kernel agrees on 99.3% of rows, every disagreement such a near tie
 * (docs/quantization.md).
 */
class PlantedOutliersTest {

  static final long[] SEEDS = {1, 2, 3};
  static final int DIM = 256;
  static final int ROWS = 3000;
  static final VectorOps OPS = VectorOpsProvider.get();

  static List<PlantedOutlierHead> heads;

  @BeforeAll
  static void fit() {
    heads = new ArrayList<>();
    for (long seed : SEEDS) {
      heads.add(PlantedOutlierHead.fitted(seed, 10, DIM, DIM / 16, ROWS, 200));
    }
  }

  static double agreement(PlantedOutlierHead h, LinearKernel k) {
    EncodedRows in = EncodedRows.encode(k.queryPrecision(), h.rows(), h.dim(), h.x());
    KernelOutput out = k.newOutput();
    k.score(in, out, OPS);
    int[] truth = h.fp32Top1();
    int agree = 0;
    for (int r = 0; r < h.rows(); r++) {
      agree += BridgeBatches.argmax(out.scores(), r * k.width(), k.width()) == truth[r] ? 1 : 0;
    }
    return agree / (double) h.rows();
  }

  static LinearKernel kernel(PlantedOutlierHead h, Precision p, WeightScaling s) {
    return s == null
        ? LinearKernel.fromWeights(h.w(), h.bias(), labels(h.classes()), Activation.SOFTMAX, p)
        : LinearKernel.fromWeights(h.w(), h.bias(), labels(h.classes()), Activation.SOFTMAX, p, s);
  }

  static List<String> labels(int n) {
    List<String> l = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      l.add("c" + i);
    }
    return l;
  }

  @Test
  void plantedHeadHasOutlierWeights() {
    for (PlantedOutlierHead h : heads) {
      double max = PlantedOutlierHead.percentileAbs(h.w(), null, 1.0);
      double median = PlantedOutlierHead.percentileAbs(h.w(), null, 0.5);
      System.out.printf("planted head dim %d: max|w| = %.0f x median%n", DIM, max / median);
      assertTrue(max / median > 50, "the planted head lost its outliers: max/median " + max / median);
    }
  }

  @Test
  void perChannelScalingFailsThePlantedHead() {
    // Today's kernels (one scale per output row, int8 rows): the failure the issue reports.
    for (PlantedOutlierHead h : heads) {
      double a8 = agreement(h, kernel(h, Precision.INT8, WeightScaling.PER_CHANNEL));
      // Without the near-tie rescoring int4 kernels have now: the weights alone.
      double a4 = agreement(h, kernel(h, Precision.INT4, WeightScaling.PER_CHANNEL).withoutNearTies());
      System.out.printf("planted dim %d, per-channel: int8 %.4f, int4 %.4f%n", DIM, a8, a4);
      assertTrue(a8 < 0.99 && a4 < 0.9, "per-channel no longer fails the planted head: the test lost its power");
    }
  }

  @Test
  void chosenScalingMeetsTheIssueTargets() {
    for (PlantedOutlierHead h : heads) {
      LinearKernel k8 = kernel(h, Precision.INT8, null);
      LinearKernel k4 = kernel(h, Precision.INT4, null);
      double a8 = agreement(h, k8);
      double a4 = agreement(h, k4);
      System.out.printf("planted dim %d, chosen: int8 %.4f [%s], int4 %.4f [%s]%n", DIM, a8,
          k8.scalingChoice().describe(), a4, k4.scalingChoice().describe());
      assertEquals(WeightScaling.COLUMN_CHANNEL, k8.scalingChoice().chosen());
      assertEquals(WeightScaling.COLUMN_CHANNEL, k4.scalingChoice().chosen());
      assertTrue(a8 >= 0.995, "int8 top-1 agreement " + a8);
      assertTrue(a4 >= 0.99, "int4 top-1 agreement " + a4);
    }
  }

  @Test
  void embeddingHeadsKeepPerChannelScaling() {
    // Dense, normalized rows and Gaussian weights: column scales gain too little for the fp32 rows
    // they need, so the kernel stays per-channel (integer dots, int8 rows). At int8 it scores
    // exactly as before; at int4 it also rescores its near ties (NearTies).
    for (long seed : SEEDS) {
      PlantedOutlierHead h = PlantedOutlierHead.embeddings(seed, 10, 384, ROWS);
      for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
        LinearKernel chosen = kernel(h, p, null);
        LinearKernel today = kernel(h, p, WeightScaling.PER_CHANNEL);
        double a = agreement(h, chosen);
        System.out.printf("embeddings seed %d %s: %.4f [%s]%n", seed, p, a, chosen.scalingChoice().describe());
        assertEquals(WeightScaling.PER_CHANNEL, chosen.scalingChoice().chosen());
        assertEquals(Precision.INT8, chosen.queryPrecision());
        assertEquals(agreement(h, today), a);
        // Measured 0.997-0.998 (int8) and, with near ties rescored, 0.998 (int4; 0.97-0.98 without).
        assertTrue(a >= (p == Precision.INT8 ? 0.995 : 0.99), p + " agreement " + a);
      }
    }
  }
}
