package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.vector.ScalarVectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The asymmetric candidate stage of binary top-k ({@link CentredBits}) against its formula. */
class CentredBitsTest {

  static final int DIM = 100;

  /** Rows sharing a mean direction, as embeddings do. */
  static float[] rows(int n, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] shared = new float[DIM];
    for (int c = 0; c < DIM; c++) {
      shared[c] = (float) rnd.nextGaussian();
    }
    float[] v = new float[n * DIM];
    for (int j = 0; j < n; j++) {
      for (int c = 0; c < DIM; c++) {
        v[j * DIM + c] = 0.8f * shared[c] + (float) rnd.nextGaussian();
      }
    }
    return v;
  }

  @Test
  void theEstimateIsAlphaTimesTheQuantizedQueryOnTheSignsPlusTheMeanTerm() {
    int n = 50;
    float[] y = rows(n, 3);
    float[] x = rows(1, 4);
    for (Similarity metric : Similarity.values()) {
      CentredBits cb = CentredBits.of(y, n, DIM, metric);
      float[] est = new float[n];
      cb.estimate(x, 0, cb.scratch(), ScalarVectorOps.INSTANCE, est);
      float[] simd = new float[n];
      cb.estimate(x, 0, cb.scratch(), VectorOpsProvider.get(), simd);
      // The oracle, in double, straight from the definition.
      double[] m = new double[DIM];
      for (int j = 0; j < n; j++) {
        for (int c = 0; c < DIM; c++) {
          m[c] += y[j * DIM + c] / (double) n;
        }
      }
      double lo = Double.MAX_VALUE;
      double hi = -Double.MAX_VALUE;
      for (int c = 0; c < DIM; c++) {
        lo = Math.min(lo, x[c] - (float) m[c]);
        hi = Math.max(hi, x[c] - (float) m[c]);
      }
      double step = (hi - lo) / 15;
      double xm = 0; // x·m − m·m: the same for every reference, but divided by each one's norm for cosine
      for (int c = 0; c < DIM; c++) {
        xm += (x[c] - (float) m[c]) * m[c];
      }
      for (int j = 0; j < n; j++) {
        double sx = 0;
        double l1 = 0;
        double l2 = 0;
        double my = 0;
        double yy = 0;
        for (int c = 0; c < DIM; c++) {
          double d = y[j * DIM + c] - (float) m[c];
          double q = lo + step * Math.max(0, Math.min(15, Math.round((x[c] - (float) m[c] - lo) / step)));
          sx += q * (d > 0 ? 1 : -1);
          l1 += Math.abs(d);
          l2 += d * d;
          my += m[c] * y[j * DIM + c];
          yy += (double) y[j * DIM + c] * y[j * DIM + c];
        }
        double norm = metric == Similarity.COSINE ? Math.sqrt(yy) : 1;
        double want = (l2 / l1 * sx + my + xm) / norm;
        assertEquals(want, est[j], 1e-3 * (1 + Math.abs(want)), metric + " row " + j);
        assertEquals(est[j], simd[j], 0f, "the scan is integer: scalar and SIMD agree exactly");
      }
    }
  }

  @Test
  void theShortlistOffersTheEstimateOfTheRowsNearestByHamming() {
    int n = 300;
    float[] y = rows(n, 8);
    float[] x = rows(1, 9);
    CentredBits cb = CentredBits.of(y, n, DIM, Similarity.DOT);
    float[] all = new float[n];
    cb.estimate(x, 0, cb.scratch(), ScalarVectorOps.INSTANCE, all);
    // A shortlist as long as the references: every row offered, with the full scan's estimate.
    TopSelector everything = new TopSelector(n);
    cb.offerCandidates(x, 0, cb.scratch(), VectorOpsProvider.get(), n, everything);
    assertEquals(n, everything.size());
    for (int i = 0; i < n; i++) {
      assertEquals(all[everything.index(i)], everything.score(i), 0f);
    }
    // A short one: at least that many rows, and none farther by Hamming than one left out.
    CentredBits.Scratch s = cb.scratch();
    TopSelector some = new TopSelector(n);
    cb.offerCandidates(x, 0, s, VectorOpsProvider.get(), 40, some);
    assertTrue(some.size() >= 40 && some.size() < n, "offered " + some.size());
    java.util.Set<Integer> offered = new java.util.HashSet<>();
    int worstIn = 0;
    for (int i = 0; i < some.size(); i++) {
      offered.add(some.index(i));
      worstIn = Math.max(worstIn, s.hamming[some.index(i)]);
    }
    for (int j = 0; j < n; j++) {
      if (!offered.contains(j)) {
        assertTrue(s.hamming[j] > worstIn, "row " + j + " left out at Hamming " + s.hamming[j] + " <= " + worstIn);
      }
    }
  }

  @Test
  void binaryTopkWithRescoringFindsItsCandidatesThisWayAndRoundTrips() {
    int n = 400;
    float[] y = rows(n, 5);
    List<String> ids = new ArrayList<>();
    for (int j = 0; j < n; j++) {
      ids.add("r" + j);
    }
    TopKKernel k = TopKKernel.fromReference(y, n, DIM, ids, Similarity.COSINE, 5, Precision.BINARY, 4, Precision.INT8);
    TopKKernel back = (TopKKernel) KernelCodec.decode(KernelCodec.encode(k));
    assertEquals(KernelCodec.kernelId(KernelCodec.encode(k)), KernelCodec.kernelId(KernelCodec.encode(back)));
    float[] q = java.util.Arrays.copyOfRange(y, 17 * DIM, 18 * DIM); // a reference row finds itself first
    EncodedRows in = EncodedRows.encode(Precision.BINARY, 1, DIM, q).withRescore(EncodedRows.encode(Precision.INT8, 1, DIM, q));
    KernelOutput out = back.newOutput();
    back.score(in, out, VectorOpsProvider.get());
    assertEquals(17, out.indices()[0]);
    assertNotNull(back.rescorePrecision());
    long words = Precision.words(DIM);
    assertEquals(n * words + Math.min(n, TopKKernel.SHORTLIST * 5 * 4) * 4 * words + 5 * 4 * DIM, back.macsPerRow(),
        "a popcount a word for every reference, four more for the shortlist, a dot per rescored candidate");
  }
}
