package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.BridgeBatches;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Rows divided by per-dimension scales and parameters folded with them ({@link DimensionScales}).
 * The planted case is the one measured on real text: sentence embeddings with a few dimensions
 * near 1e-33 (all-MiniLM-L6-v2 has two) and a head, fitted on standardized features, whose
 * weights there are near 1e32, so those dimensions carry about one logit each.
 */
class DimensionScalesTest {

  static final VectorOps OPS = VectorOpsProvider.get();
  static final int DIM = 96;
  static final int CLASSES = 12;
  static final int ROWS = 4000;
  static final int[] DEAD = {7, 40, 81};

  /** Unit rows with {@link #DEAD} dimensions of size ~1e-33. */
  static float[] rows(long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] x = new float[ROWS * DIM];
    for (int r = 0; r < ROWS; r++) {
      double n = 0;
      for (int c = 0; c < DIM; c++) {
        x[r * DIM + c] = (float) rnd.nextGaussian();
        n += x[r * DIM + c] * x[r * DIM + c];
      }
      for (int c = 0; c < DIM; c++) {
        x[r * DIM + c] /= (float) Math.sqrt(n);
      }
      for (int d : DEAD) {
        x[r * DIM + d] = (float) (rnd.nextGaussian() * 3e-33);
      }
    }
    return x;
  }

  /** Weights of a few units on live dimensions, ~3e32 on dead ones: each carries ~1 logit. */
  static float[][] weights(long seed) {
    SplittableRandom rnd = new SplittableRandom(seed * 31 + 7);
    float[][] w = new float[CLASSES][DIM];
    for (int j = 0; j < CLASSES; j++) {
      for (int c = 0; c < DIM; c++) {
        w[j][c] = (float) (rnd.nextGaussian() * 4);
      }
      for (int d : DEAD) {
        w[j][d] = (float) (rnd.nextGaussian() * 3e32);
      }
    }
    return w;
  }

  static int[] exactTop1(float[] x, float[][] w) {
    int[] top = new int[ROWS];
    for (int r = 0; r < ROWS; r++) {
      double best = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < CLASSES; j++) {
        double z = 0;
        for (int c = 0; c < DIM; c++) {
          z += (double) w[j][c] * x[r * DIM + c];
        }
        if (z > best) {
          best = z;
          top[r] = j;
        }
      }
    }
    return top;
  }

  static DimensionScales maxAbs(float[] x) {
    float[] m = new float[DIM];
    for (int r = 0; r < ROWS; r++) {
      DimensionScales.accumulateMaxAbs(x, r * DIM, m);
    }
    return DimensionScales.ofMaxAbs(m);
  }

  static double agreement(Kernel k, EncodedRows in, int[] truth) {
    KernelOutput out = k.newOutput();
    k.score(in, out, OPS);
    int agree = 0;
    for (int r = 0; r < ROWS; r++) {
      agree += BridgeBatches.argmax(out.scores(), r * k.width(), k.width()) == truth[r] ? 1 : 0;
    }
    return agree / (double) ROWS;
  }

  static List<String> labels(int n) {
    return PlantedOutliersTest.labels(n);
  }

  @Test
  void int8CodesOfRowsWithTinyDimensionsAgreeOnlyWhenDividedByTheirScales() {
    for (long seed = 1; seed <= 3; seed++) {
      float[] x = rows(seed);
      float[][] w = weights(seed);
      int[] truth = exactTop1(x, w);
      DimensionScales e = maxAbs(x);
      // Codes as a codes table holds them (int8 per row), each kernel as a run builds it for them.
      for (WeightScaling s : WeightScaling.values()) {
        LinearKernel plain = LinearKernel.fromWeights(w, new float[CLASSES], labels(CLASSES), Activation.SOFTMAX,
            Precision.INT8, s);
        double without = agreement(plain, EncodedRows.encode(Precision.INT8, ROWS, DIM, x), truth);
        assertTrue(without < 0.9, "seed " + seed + " " + s + ": without scales the tiny dimensions round to 0, "
            + "yet agreement is " + without);
      }
      LinearKernel scaled = LinearKernel.fromWeights(w, new float[CLASSES], labels(CLASSES), Activation.SOFTMAX,
          Precision.INT8, ScalingChooser.withProbes(), e);
      double after = agreement(scaled, EncodedRows.encode(Precision.INT8, ROWS, DIM, x, e), truth);
      System.out.printf("dimension scales, seed %d: int8 codes agreement %.4f (%s)%n", seed, after,
          scaled.scalingChoice().describe());
      // The weights stay fp32 (unquantized): what is left is the int8 rows' own rounding, which
      // on these 96-d rows of Gaussian weights with many near ties is 0.993-0.995.
      assertEquals(WeightScaling.UNQUANTIZED, scaled.scalingChoice().chosen());
      assertTrue(after >= 0.99, "seed " + seed + ": with dimension scales agreement is " + after);
      assertEquals(e, scaled.rowScales());
    }
  }

  @Test
  void everyKernelFoldsTheScalesSoScoresMatchFp32() {
    float[] x = rows(5);
    float[][] w = weights(5);
    DimensionScales e = maxAbs(x);
    int n = 200;
    float[] refs = java.util.Arrays.copyOfRange(x, 1000 * DIM, (1000 + n) * DIM);
    List<String> ids = labels(n);
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
      Kernel[] pair = {
          CentroidKernel.fromCentroids(java.util.Arrays.copyOf(w, 4), labels(4), Similarity.COSINE, Precision.FP32),
          CentroidKernel.fromCentroids(java.util.Arrays.copyOf(w, 4), labels(4), Similarity.COSINE, p, e)};
      float[] exact = scores(pair[0], EncodedRows.fp32(ROWS, DIM, x));
      float[] got = scores(pair[1], EncodedRows.encode(pair[1].queryPrecision(), ROWS, DIM, x, e));
      assertClose(exact, got, p == Precision.INT8 ? 0.02 : 0.12, "centroid " + p);

      TopKKernel fp32 = TopKKernel.fromReference(refs, n, DIM, ids, Similarity.DOT, 5, Precision.FP32, 1, null);
      TopKKernel q = TopKKernel.fromReference(refs, n, DIM, ids, Similarity.DOT, 5, p, 4, Precision.INT8, e);
      EncodedRows in = EncodedRows.encode(q.queryPrecision(), ROWS, DIM, x, e)
          .withRescore(EncodedRows.encode(Precision.INT8, ROWS, DIM, x, e));
      assertClose(scores(fp32, EncodedRows.fp32(ROWS, DIM, x)), scores(q, in), 0.02, "topk " + p + " rescored at int8");

      float[][] w2 = {{1, -1}, {-1, 1}};
      MlpKernel mlpExact = MlpKernel.fromWeights(java.util.Arrays.copyOf(w, 2), new float[2], w2, new float[2],
          labels(2), Activation.RAW, MlpKernel.Hidden.RELU, Precision.FP32);
      MlpKernel mlp = MlpKernel.fromWeights(java.util.Arrays.copyOf(w, 2), new float[2], w2, new float[2],
          labels(2), Activation.RAW, MlpKernel.Hidden.RELU, p, e);
      assertClose(scores(mlpExact, EncodedRows.fp32(ROWS, DIM, x)),
          scores(mlp, EncodedRows.encode(mlp.queryPrecision(), ROWS, DIM, x, e)), p == Precision.INT8 ? 0.03 : 0.3,
          "mlp " + p);
    }
  }

  static float[] scores(Kernel k, EncodedRows in) {
    KernelOutput out = k.newOutput();
    k.score(in, out, OPS);
    return java.util.Arrays.copyOf(out.scores(), in.rows() * k.width());
  }

  /** Every score within {@code tol} × the largest |exact score|. */
  static void assertClose(float[] exact, float[] got, double tol, String what) {
    double scale = 0;
    double worst = 0;
    for (int i = 0; i < exact.length; i++) {
      scale = Math.max(scale, Math.abs(exact[i]));
      worst = Math.max(worst, Math.abs(exact[i] - got[i]));
    }
    assertTrue(worst <= tol * scale, what + ": worst error " + worst + " against scores up to " + scale);
  }

  @Test
  void unquantizedWeightsScoreCodesAsTheScalarOracleDoes() {
    float[] x = rows(11);
    float[][] w = weights(11);
    DimensionScales e = maxAbs(x);
    float[] bias = new float[CLASSES];
    bias[3] = 0.5f;
    for (Precision rows : new Precision[] {Precision.INT8, Precision.INT4}) {
      LinearKernel k = LinearKernel.fromWeights(w, bias, labels(CLASSES), Activation.RAW, Precision.INT8,
          ScalingChooser.withProbes(), e);
      assertTrue(k.reads(rows), "reads " + rows + " codes");
      EncodedRows in = EncodedRows.encode(rows, 300, DIM, x, e);
      float[] simd = scores(k, in);
      KernelOutput out = k.newOutput();
      k.score(in, out, dev.joule.bridge.vector.ScalarVectorOps.INSTANCE);
      float[] folded = e.fold(LinearKernel.flatten(w), CLASSES);
      for (int r = 0; r < 300; r++) {
        for (int j = 0; j < CLASSES; j++) {
          // The oracle: s_r * sum_c code_rc * (w_jc * e_c) + b_j, in double.
          double ref = 0;
          for (int c = 0; c < DIM; c++) {
            int code = rows == Precision.INT8 ? in.codes()[r * DIM + c] : Int4Quantizer.code(in.codes(), r * in.stride(), DIM, c);
            ref += (double) code * folded[j * DIM + c];
          }
          ref = ref * in.scales()[r] + bias[j];
          float scalar = out.scores()[r * CLASSES + j];
          assertEquals(ref, scalar, 1e-4 * (1 + Math.abs(ref)), rows + " scalar, row " + r + " output " + j);
          assertEquals(scalar, simd[r * CLASSES + j], 1e-4 * (1 + Math.abs(ref)), rows + " SIMD, row " + r + " output " + j);
        }
      }
    }
    assertThrows(IllegalArgumentException.class, () -> ScaledWeights.quantize(WeightScaling.UNQUANTIZED, Precision.INT4,
        CLASSES, DIM, LinearKernel.flatten(w)), "unquantized weights serve int8 kernels only");
  }

  @Test
  void scalesTravelInTheKernelAndChangeItsId() {
    float[] x = rows(9);
    float[][] w = weights(9);
    DimensionScales e = maxAbs(x);
    LinearKernel plain = LinearKernel.fromWeights(w, new float[CLASSES], labels(CLASSES), Activation.SOFTMAX,
        Precision.INT8, ScalingChooser.withProbes(), null);
    LinearKernel scaled = LinearKernel.fromWeights(w, new float[CLASSES], labels(CLASSES), Activation.SOFTMAX,
        Precision.INT8, ScalingChooser.withProbes(), e);
    Kernel back = KernelCodec.decode(KernelCodec.encode(scaled));
    assertEquals(e, back.rowScales());
    assertNull(KernelCodec.decode(KernelCodec.encode(plain)).rowScales());
    assertNotEquals(KernelCodec.kernelId(KernelCodec.encode(plain)), KernelCodec.kernelId(KernelCodec.encode(scaled)));
    assertNull(LinearKernel.fromWeights(w, new float[CLASSES], labels(CLASSES), Activation.SOFTMAX,
        Precision.FP32, ScalingChooser.withProbes(), e).rowScales(), "fp32 kernels never divide rows");
  }

  @Test
  void encodingRoundTripsAndBadScalesAreRefused() {
    DimensionScales e = DimensionScales.ofMaxAbs(new float[] {0.5f, 0f, 3e-33f, 2f});
    assertArrayEquals(new float[] {0.5f, 1f, 3e-33f, 2f}, e.values(), "a dimension that is always 0 gets 1");
    assertEquals(e, DimensionScales.parse(e.encoded(), 4));
    assertThrows(IllegalArgumentException.class, () -> DimensionScales.parse(e.encoded(), 5));
    assertThrows(IllegalArgumentException.class, () -> DimensionScales.parse("not base64!", 4));
    assertThrows(IllegalArgumentException.class, () -> DimensionScales.ofMaxAbs(new float[] {Float.NaN}));
    float[] m = new float[2];
    DimensionScales.accumulateMaxAbs(new float[] {-3f, Float.POSITIVE_INFINITY}, 0, m);
    assertArrayEquals(new float[] {3f, 0f}, m, "non-finite values are skipped (such rows are rejected anyway)");
    // Quantized rows keep the norm of the undivided row; fp32 rows stay as they are.
    float[] row = {0.5f, 0f, 1e-33f, -2f};
    EncodedRows q = EncodedRows.encode(Precision.INT8, 1, 4, row, e);
    assertEquals((float) Math.sqrt(0.25 + 4), q.norms()[0], 1e-6f);
    assertEquals(127, Math.abs(q.codes()[0]), "0.5 / 0.5 is the row's largest divided value");
    assertArrayEquals(row, EncodedRows.encode(Precision.FP32, 1, 4, row, e).values());
  }
}
