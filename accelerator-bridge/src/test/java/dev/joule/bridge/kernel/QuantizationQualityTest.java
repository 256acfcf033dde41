package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Quality of each precision against fp32 on synthetic clustered data: 10,000 reference rows and
 * 1,000 queries of dim 384. Like embeddings of real corpora, the rows are clustered in a
 * hierarchy and most of their variance lies in a few directions: in a 32-d latent space, 10
 * topics (centre ~ N(0, 1)), 1,000 subtopics (topic + N(0, 0.6²)), rows (subtopic + N(0, 0.3²));
 * each row is then projected to 384-d by a fixed random Gaussian matrix (scaled 1/√32), plus
 * isotropic noise N(0, 0.1²) in all 384 dims.
 * Recall@10 = |top-10 at the precision ∩ fp32 top-10| / 10, averaged over queries.
 *
 * <p>{@link #isotropicDataKeepsItsMeasuredFloors()} holds recall on two harder sets where the
 * clusters live in all 384 dims (full-rank noise), so the top 10 are close to tied: the
 * hierarchy above without the projection, and flat clusters (100 centres, noise 0.5). Its floors
 * are the recall measured on these seeded sets, a little below, so a quantizer that gets worse
 * fails; several sit under the gate's 0.95, which is why the gate exists.
 */
class QuantizationQualityTest {

  static final int N = 10_000;
  static final int Q = 1_000;
  static final int DIM = 384;
  static final int K = 10;
  static final VectorOps OPS = VectorOpsProvider.get();

  static float[] reference;
  static float[] queries;
  static List<String> ids;
  static int[][] truth;

  static final int LATENT = 32;
  static float[][] topics;

  @BeforeAll
  static void data() {
    SplittableRandom rnd = new SplittableRandom(2026);
    float[][] latentTopics = centres(rnd, 10, null, 1.0, LATENT);
    float[][] subtopics = new float[1000][];
    for (int s = 0; s < subtopics.length; s++) {
      subtopics[s] = centres(rnd, 1, latentTopics[s % 10], 0.6, LATENT)[0];
    }
    float[][] projection = centres(rnd, LATENT, null, 1.0 / Math.sqrt(LATENT), DIM);
    reference = project(draw(rnd, subtopics, N, 0.3, LATENT), projection, N, rnd);
    queries = project(draw(rnd, subtopics, Q, 0.3, LATENT), projection, Q, rnd);
    topics = new float[10][];
    for (int t = 0; t < 10; t++) {
      topics[t] = project(latentTopics[t], projection, 1, null);
    }
    ids = new ArrayList<>();
    for (int i = 0; i < N; i++) {
      ids.add(Integer.toString(i));
    }
    truth = truth(reference, queries);
  }

  /** x = P^T z (+ N(0, 0.1²) per dimension when rnd is given). */
  static float[] project(float[] z, float[][] p, int n, SplittableRandom rnd) {
    float[] x = new float[n * DIM];
    for (int r = 0; r < n; r++) {
      for (int i = 0; i < DIM; i++) {
        double v = 0;
        for (int l = 0; l < LATENT; l++) {
          v += z[r * LATENT + l] * p[l][i];
        }
        x[r * DIM + i] = (float) (v + (rnd == null ? 0 : 0.1 * rnd.nextGaussian()));
      }
    }
    return x;
  }

  static int[][] truth(float[] ref, float[] q) {
    return topk(TopKKernel.fromReference(ref, N, DIM, ids, Similarity.COSINE, K, Precision.FP32, 1, null),
        EncodedRows.fp32(Q, DIM, q));
  }

  static float[][] centres(SplittableRandom rnd, int n, float[] around, double sigma, int dim) {
    float[][] c = new float[n][dim];
    for (float[] row : c) {
      for (int i = 0; i < dim; i++) {
        row[i] = (float) ((around == null ? 0 : around[i]) + sigma * rnd.nextGaussian());
      }
    }
    return c;
  }

  static float[] draw(SplittableRandom rnd, float[][] centres, int n, double sigma, int dim) {
    float[] x = new float[n * dim];
    for (int r = 0; r < n; r++) {
      float[] c = centres[rnd.nextInt(centres.length)];
      for (int i = 0; i < dim; i++) {
        x[r * dim + i] = (float) (c[i] + sigma * rnd.nextGaussian());
      }
    }
    return x;
  }

  static int[][] topk(Kernel k, EncodedRows q) {
    KernelOutput out = k.newOutput();
    k.score(q, out, OPS);
    int[][] res = new int[q.rows()][K];
    for (int r = 0; r < q.rows(); r++) {
      System.arraycopy(out.indices(), r * K, res[r], 0, K);
    }
    return res;
  }

  static double recall(Precision p, int oversample, Precision rescore) {
    return recall("low-rank hierarchical", reference, queries, truth, p, oversample, rescore);
  }

  static double recall(String data, float[] ref, float[] qs, int[][] truth, Precision p,
      int oversample, Precision rescore) {
    TopKKernel k = TopKKernel.fromReference(ref, N, DIM, ids, Similarity.COSINE, K, p, oversample, rescore);
    EncodedRows q = EncodedRows.encode(k.queryPrecision(), Q, DIM, qs);
    if (rescore != null) {
      q = q.withRescore(EncodedRows.encode(rescore, Q, DIM, qs));
    }
    int[][] got = topk(k, q);
    double hits = 0;
    for (int r = 0; r < Q; r++) {
      Set<Integer> t = new HashSet<>();
      for (int i : truth[r]) {
        t.add(i);
      }
      for (int i : got[r]) {
        hits += t.contains(i) ? 1 : 0;
      }
    }
    double recall = hits / (Q * (double) K);
    System.out.printf("recall@10 vs fp32 cosine, %s data, %s%s: %.4f%n", data,
        p == k.queryPrecision() ? p : p + " (rows at " + k.queryPrecision() + ")",
        rescore == null ? "" : " + rescore " + oversample + "x at " + rescore, recall);
    return recall;
  }

  @Test
  void int8Recall() {
    assertTrue(recall(Precision.INT8, 1, null) >= 0.99);
  }

  /**
   * Plain int4 (15 levels per dimension, the MSE-fitted scale of {@link Int4Quantizer}) and int4
   * with 2 × k candidates rescored at int8. With the old max-abs scale plain int4 reached 0.943.
   */
  @Test
  void int4Recall() {
    assertTrue(recall(Precision.INT4, 1, null) >= 0.95);
    assertTrue(recall(Precision.INT4, 2, Precision.INT8) >= 0.99);
  }

  @Test
  void binaryWithRescoringRecall() {
    assertTrue(recall(Precision.BINARY, 4, Precision.INT8) >= 0.95);
    // Without rescoring, sign bits alone are weaker (0.856 measured); the floor guards it.
    assertTrue(recall(Precision.BINARY, 1, null) >= 0.83);
    recall(Precision.BINARY, 10, Precision.INT8);
  }

  @Test
  void isotropicDataKeepsItsMeasuredFloors() {
    SplittableRandom rnd = new SplittableRandom(7);
    float[][] topicsFull = centres(rnd, 10, null, 1.0, DIM);
    float[][] subFull = new float[1000][];
    for (int s = 0; s < subFull.length; s++) {
      subFull[s] = centres(rnd, 1, topicsFull[s % 10], 0.6, DIM)[0];
    }
    float[][] flat = centres(rnd, 100, null, 1.0, DIM);
    String[] names = {"full-rank hierarchical", "full-rank flat"};
    float[][][] sets = {subFull, flat};
    double[] noise = {0.3, 0.5};
    // Measured 2026-12-04: hierarchical 0.988 / 0.927 / 0.908, flat 0.969 / 0.808 / 0.684.
    // Floors about two points below, so float summation order on another CPU does not trip them.
    double[][] floors = {{0.97, 0.90, 0.88}, {0.95, 0.78, 0.66}};
    for (int d = 0; d < 2; d++) {
      float[] ref = draw(rnd, sets[d], N, noise[d], DIM);
      float[] q = draw(rnd, sets[d], Q, noise[d], DIM);
      int[][] t = truth(ref, q);
      double[] got = {
          recall(names[d], ref, q, t, Precision.INT8, 1, null),
          recall(names[d], ref, q, t, Precision.INT4, 1, null),
          recall(names[d], ref, q, t, Precision.BINARY, 4, Precision.INT8)};
      for (int i = 0; i < got.length; i++) {
        assertTrue(got[i] >= floors[d][i], names[d] + " case " + i + ": recall " + got[i] + " < " + floors[d][i]);
      }
    }
  }

  @Test
  void linearInt8TopOneAgreement() {
    // A 10-class softmax head over the topics: the nearest-topic rule written as a linear model.
    float[][] w = new float[10][DIM];
    float[] b = new float[10];
    for (int c = 0; c < 10; c++) {
      double sq = 0;
      for (int i = 0; i < DIM; i++) {
        w[c][i] = topics[c][i];
        sq += w[c][i] * w[c][i];
      }
      b[c] = (float) (-sq / 2);
    }
    List<String> labels = ids.subList(0, 10);
    Kernel fp32 = LinearKernel.fromWeights(w, b, labels, Activation.SOFTMAX, Precision.FP32);
    Kernel int8 = LinearKernel.fromWeights(w, b, labels, Activation.SOFTMAX, Precision.INT8);
    int[] a = argmax(fp32, EncodedRows.fp32(N, DIM, reference));
    int[] q = argmax(int8, EncodedRows.encode(Precision.INT8, N, DIM, reference));
    int agree = 0;
    for (int r = 0; r < N; r++) {
      agree += a[r] == q[r] ? 1 : 0;
    }
    double agreement = agree / (double) N;
    System.out.printf("linear softmax int8 vs fp32 top-1 agreement on %d rows: %.4f%n", N, agreement);
    assertTrue(agreement >= 0.995);
  }

  static int[] argmax(Kernel k, EncodedRows in) {
    KernelOutput out = k.newOutput();
    k.score(in, out, OPS);
    int[] best = new int[in.rows()];
    for (int r = 0; r < in.rows(); r++) {
      best[r] = dev.joule.bridge.BridgeBatches.argmax(out.scores(), r * k.width(), k.width());
    }
    return best;
  }
}
