package dev.joule.bridge.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.joule.bridge.vector.ScalarVectorOps;
import dev.joule.bridge.vector.VectorOps;
import dev.joule.bridge.vector.VectorOpsProvider;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Int4 heads' near-tie rescoring ({@link NearTies}) against a double-precision oracle written from
 * its definition: quantized logits; σ_row² = Σ_c x_c² · 2·mean_j δ_jc² for the row as sent, in the
 * weights' units; the classes within κ·σ_row of the top, when there are two or more, scored with
 * the exact weights on that same row. Scalar and Vector API, both scalings, fp32 / int8 / int4
 * rows, with and without dimension scales.
 */
class NearTiesTest {

  static final VectorOps SCALAR = ScalarVectorOps.INSTANCE;
  static final VectorOps PANAMA = VectorOpsProvider.panamaOrNull();

  @Test
  void rescoredLogitsAreTheOraclesOnEveryRowEncodingAndBothOps() {
    assertNotNull(PANAMA, "Vector API implementation did not load in the test JVM");
    int rescoredRows = 0;
    int rows = 40;
    for (long seed = 1; seed <= 3; seed++) {
      for (int dim : new int[] {7, 64, 383}) {
        for (int outputs : new int[] {2, 5, 30}) {
          SplittableRandom rnd = new SplittableRandom(seed * 1000 + dim * 10L + outputs);
          float[][] w = LinearKernelTest.randomWeights(rnd, outputs, dim, 1.0);
          float[] bias = new float[outputs];
          for (int j = 0; j < outputs; j++) {
            bias[j] = (float) rnd.nextGaussian() * 0.1f;
          }
          float[] x = nearTiedRows(rnd, w, rows);
          DimensionScales e = maxAbsScales(x, rows, dim);
          for (WeightScaling s : new WeightScaling[] {WeightScaling.PER_CHANNEL, WeightScaling.COLUMN_CHANNEL}) {
            LinearKernel k = LinearKernel.fromWeights(w, bias, LinearKernelTest.labels(outputs), Activation.RAW,
                Precision.INT4, s);
            rescoredRows += check(k, w, null, x, rows, s == WeightScaling.COLUMN_CHANNEL
                ? new Precision[] {Precision.FP32, Precision.INT8, Precision.INT4} : new Precision[] {Precision.INT8, Precision.INT4});
          }
          // Int8 column-channel weights rescore their near ties too.
          LinearKernel int8 = LinearKernel.fromWeights(w, bias, LinearKernelTest.labels(outputs), Activation.RAW,
              Precision.INT8, WeightScaling.COLUMN_CHANNEL);
          rescoredRows += check(int8, w, null, x, rows, new Precision[] {Precision.FP32, Precision.INT8});
          // Folded with dimension scales (a codes table's), the chooser picking the scaling.
          LinearKernel folded = LinearKernel.fromWeights(w, bias, LinearKernelTest.labels(outputs), Activation.RAW,
              Precision.INT4, ScalingChooser.withProbes(), e);
          rescoredRows += check(folded, w, e, x, rows, folded.scalingChoice().chosen() == WeightScaling.COLUMN_CHANNEL
              ? new Precision[] {Precision.FP32, Precision.INT8, Precision.INT4} : new Precision[] {Precision.INT8, Precision.INT4});
        }
      }
    }
    assertTrue(rescoredRows > 500, "too few rows had near ties to test the rescoring: " + rescoredRows);
  }

  /** Rows near a tie: the mean of two random parameter rows plus a little noise. */
  static float[] nearTiedRows(SplittableRandom rnd, float[][] w, int rows) {
    int dim = w[0].length;
    float[] x = new float[rows * dim];
    for (int r = 0; r < rows; r++) {
      int a = rnd.nextInt(w.length);
      int b = rnd.nextInt(w.length);
      for (int c = 0; c < dim; c++) {
        x[r * dim + c] = 0.5f * (w[a][c] + w[b][c]) + (float) rnd.nextGaussian() * 0.3f;
      }
    }
    return x;
  }

  static DimensionScales maxAbsScales(float[] x, int rows, int dim) {
    float[] maxAbs = new float[dim];
    for (int r = 0; r < rows; r++) {
      DimensionScales.accumulateMaxAbs(x, r * dim, maxAbs);
    }
    return DimensionScales.ofMaxAbs(maxAbs);
  }

  /** Compares the kernel with the oracle on every row encoding; returns the rows the oracle rescored. */
  private static int check(LinearKernel k, float[][] w, DimensionScales e, float[] x, int rows, Precision[] encodings) {
    NearTies ties = k.nearTies();
    assertNotNull(ties, k.displayName() + " " + k.scalingChoice().chosen() + " has no near-tie rescoring");
    int outputs = w.length;
    int dim = w[0].length;
    double[][] exact = new double[outputs][dim]; // in the weights' units: folded with e
    for (int j = 0; j < outputs; j++) {
      for (int c = 0; c < dim; c++) {
        exact[j][c] = (double) w[j][c] * (e == null ? 1 : e.values()[c]);
      }
    }
    double[] v = new double[dim];
    for (int j = 0; j < outputs; j++) {
      for (int c = 0; c < dim; c++) {
        double d = k.scaledWeights().dequantized(j, c) - (double) (float) exact[j][c];
        v[c] += 2 * d * d / outputs;
      }
    }
    float[] bias = biasOf(k, outputs, dim);
    int rescored = 0;
    for (Precision p : encodings) {
      EncodedRows in = EncodedRows.encode(p, rows, dim, x, p == Precision.FP32 ? null : e);
      float[] quantized = score(k.withoutNearTies(), in, SCALAR);
      for (VectorOps ops : new VectorOps[] {SCALAR, PANAMA}) {
        float[] got = score(k, in, ops);
        for (int r = 0; r < rows; r++) {
          double[] row = rowInWeightUnits(in, r, e);
          double sigma2 = 0;
          double mag = 1e-6;
          for (int c = 0; c < dim; c++) {
            sigma2 += row[c] * row[c] * v[c];
          }
          int o = r * outputs;
          int top = o;
          for (int j = o; j < o + outputs; j++) {
            top = quantized[j] > quantized[top] ? j : top;
          }
          double cut = quantized[top] - ties.margin() * Math.sqrt(sigma2);
          int candidates = 0;
          boolean nearTheCut = false;
          for (int j = 0; j < outputs; j++) {
            candidates += quantized[o + j] >= cut ? 1 : 0;
            nearTheCut |= Math.abs(quantized[o + j] - cut) < 1e-4 * (1 + Math.abs(cut));
          }
          if (nearTheCut) {
            continue; // float vs double may put a class on either side of the cut
          }
          rescored += candidates > 1 && ops == SCALAR ? 1 : 0;
          for (int j = 0; j < outputs; j++) {
            double expect = quantized[o + j];
            if (candidates > 1 && quantized[o + j] >= cut) {
              expect = bias[j];
              mag = Math.abs(bias[j]);
              for (int c = 0; c < dim; c++) {
                expect += row[c] * exact[j][c];
                mag += Math.abs(row[c] * exact[j][c]);
              }
            }
            assertEquals(expect, got[o + j], 1e-4 * (1 + Math.abs(expect)) + 1e-5 * mag,
                k.scalingChoice().chosen() + " " + p + " rows, dim " + dim + ", row " + r + ", class " + j + ", "
                    + (ops == SCALAR ? "scalar" : "Vector API"));
          }
        }
      }
    }
    return rescored;
  }

  @Test
  void centroidScoresAreTheOraclesByCosineAndDot() {
    int rows = 40;
    int rescoredRows = 0;
    for (long seed = 1; seed <= 3; seed++) {
      for (int dim : new int[] {7, 64, 383}) {
        for (int k : new int[] {2, 5, 30}) {
          SplittableRandom rnd = new SplittableRandom(seed * 7000 + dim * 10L + k);
          float[][] c = LinearKernelTest.randomWeights(rnd, k, dim, 1.0);
          float[] x = nearTiedRows(rnd, c, rows);
          for (DimensionScales e : new DimensionScales[] {null, maxAbsScales(x, rows, dim)}) {
            for (Similarity metric : Similarity.values()) {
              CentroidKernel kernel = CentroidKernel.fromCentroids(c, LinearKernelTest.labels(k), metric, Precision.INT4, e);
              rescoredRows += checkCentroids(kernel, c, e, metric, x, rows);
            }
          }
        }
      }
    }
    assertTrue(rescoredRows > 500, "too few rows had near ties to test the rescoring: " + rescoredRows);
  }

  private static int checkCentroids(CentroidKernel k, float[][] c, DimensionScales e, Similarity metric, float[] x,
      int rows) {
    NearTies ties = k.nearTies();
    assertNotNull(ties);
    int n = c.length;
    int dim = c[0].length;
    double[][] exact = new double[n][dim];
    double[] m = new double[n];
    EncodedRows q = EncodedRows.encodeFolded(Precision.INT4, n, dim, flat(c), e);
    for (int j = 0; j < n; j++) {
      double norm = 0;
      for (int d = 0; d < dim; d++) {
        exact[j][d] = (double) c[j][d] * (e == null ? 1 : e.values()[d]);
        norm += (double) c[j][d] * c[j][d];
      }
      m[j] = metric == Similarity.COSINE ? 1 / (float) Math.sqrt(norm) : 1;
    }
    double[] v = new double[dim];
    for (int j = 0; j < n; j++) {
      for (int d = 0; d < dim; d++) {
        double err = m[j] * ((double) Int4Quantizer.code(q.codes(), j * q.stride(), dim, d) * q.scales()[j]
            - (double) (float) exact[j][d]);
        v[d] += 2 * err * err / n;
      }
    }
    int rescored = 0;
    for (Precision p : new Precision[] {Precision.INT8, Precision.INT4}) {
      EncodedRows in = EncodedRows.encode(p, rows, dim, x, e);
      float[] quantized = score(k.withoutNearTies(), in, SCALAR);
      for (VectorOps ops : new VectorOps[] {SCALAR, PANAMA}) {
        float[] got = score(k, in, ops);
        for (int r = 0; r < rows; r++) {
          double[] row = rowInWeightUnits(in, r, e);
          double a = metric == Similarity.COSINE ? 1.0 / in.norms()[r] : 1;
          double sigma2 = 0;
          for (int d = 0; d < dim; d++) {
            sigma2 += row[d] * row[d] * v[d];
          }
          int o = r * n;
          int top = o;
          for (int j = o; j < o + n; j++) {
            top = quantized[j] > quantized[top] ? j : top;
          }
          double cut = quantized[top] - ties.margin() * a * Math.sqrt(sigma2);
          int candidates = 0;
          boolean nearTheCut = false;
          for (int j = 0; j < n; j++) {
            candidates += quantized[o + j] >= cut ? 1 : 0;
            nearTheCut |= Math.abs(quantized[o + j] - cut) < 1e-4 * (1 + Math.abs(cut));
          }
          if (nearTheCut) {
            continue;
          }
          rescored += candidates > 1 && ops == SCALAR ? 1 : 0;
          for (int j = 0; j < n; j++) {
            double expect = quantized[o + j];
            double mag = 1e-6;
            if (candidates > 1 && quantized[o + j] >= cut) {
              expect = 0;
              for (int d = 0; d < dim; d++) {
                expect += row[d] * exact[j][d];
                mag += Math.abs(row[d] * exact[j][d]);
              }
              expect *= a * m[j];
              mag *= a * m[j];
            }
            assertEquals(expect, got[o + j], 1e-4 * (1 + Math.abs(expect)) + 1e-5 * mag,
                metric + " " + p + " rows, dim " + dim + ", row " + r + ", centroid " + j + ", e " + (e != null));
          }
        }
      }
    }
    return rescored;
  }

  private static float[] flat(float[][] w) {
    float[] f = new float[w.length * w[0].length];
    for (int j = 0; j < w.length; j++) {
      System.arraycopy(w[j], 0, f, j * w[0].length, w[0].length);
    }
    return f;
  }

  @Test
  void aKernelWithNearTiesCarriesAFormatOlderNodesRefuseAndItsEntriesAreChecked() {
    SplittableRandom rnd = new SplittableRandom(6);
    float[][] w = LinearKernelTest.randomWeights(rnd, 3, 16, 1.0);
    LinearKernel k = LinearKernel.fromWeights(w, new float[3], LinearKernelTest.labels(3), Activation.SOFTMAX,
        Precision.INT4, WeightScaling.COLUMN_CHANNEL);
    KernelPayload p = k.toPayload();
    assertEquals(k, KernelCodec.decode(KernelCodec.encode(LinearKernel.OP, p)));
    assertTrue(new String(KernelCodec.encode(k), java.nio.charset.StandardCharsets.ISO_8859_1)
        .contains(KernelCodec.FORMAT_NEAR_TIES), "near-tie kernels are written as " + KernelCodec.FORMAT_NEAR_TIES);
    String plain = new String(KernelCodec.encode(k.withoutNearTies()), java.nio.charset.StandardCharsets.ISO_8859_1);
    assertTrue(plain.contains(KernelCodec.FORMAT) && !plain.contains(KernelCodec.FORMAT_NEAR_TIES),
        "others keep " + KernelCodec.FORMAT);
    for (String margin : new String[] {"2", " 2.0", "0.0", "-1.0", "100.0", "NaN", "x"}) {
      KernelPayload bad = k.toPayload().meta("w.near-ties.margin", margin);
      IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> KernelCodec.decode(KernelCodec.encode(LinearKernel.OP, bad)), margin);
      assertTrue(e.getMessage().contains("near-tie margin"), e.getMessage());
    }
    float[] nan = new float[3 * 16];
    nan[5] = Float.NaN;
    KernelPayload bad = k.toPayload().rows("w.exact", EncodedRows.fp32(3, 16, nan));
    org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> KernelCodec.decode(KernelCodec.encode(LinearKernel.OP, bad)));
  }

  @Test
  void zeroAndNonFiniteRowsScoreAsWithoutTheRescoring() {
    SplittableRandom rnd = new SplittableRandom(9);
    float[][] c = LinearKernelTest.randomWeights(rnd, 4, 24, 1.0);
    CentroidKernel k = CentroidKernel.fromCentroids(c, LinearKernelTest.labels(4), Similarity.COSINE, Precision.INT4);
    float[] x = new float[3 * 24];
    x[24] = Float.NaN; // row 1: NaN; row 0: zeros; row 2: a real row
    for (int d = 0; d < 24; d++) {
      x[48 + d] = c[1][d];
    }
    EncodedRows in = EncodedRows.encode(Precision.INT8, 3, 24, x);
    float[] got = score(k, in, PANAMA);
    float[] plain = score(k.withoutNearTies(), in, PANAMA);
    for (int j = 0; j < 4; j++) {
      assertEquals(0f, got[j], "a zero row scores 0 against every centroid");
      assertEquals(plain[4 + j], got[4 + j], 0f, "a NaN row is left as it is");
    }
    assertEquals(1, dev.joule.bridge.BridgeBatches.argmax(got, 8, 4), "a centroid's own row finds it");
  }

  /** The bias, read back as the raw output of a zero row (σ_row = 0: only exact ties move). */
  private static float[] biasOf(LinearKernel k, int outputs, int dim) {
    return score(k.withoutNearTies(), EncodedRows.encode(Precision.INT8, 1, dim, new float[dim]), SCALAR);
  }

  /** Row r as the kernel's dots see it, in the weights' units: fp32 ÷ e, or the codes dequantized. */
  private static double[] rowInWeightUnits(EncodedRows in, int r, DimensionScales e) {
    int dim = in.dim();
    double[] row = new double[dim];
    for (int c = 0; c < dim; c++) {
      row[c] = switch (in.precision()) {
        case FP32 -> in.values()[r * dim + c] / (e == null ? 1.0 : e.values()[c]);
        case INT8 -> (double) in.codes()[r * dim + c] * in.scales()[r];
        case INT4 -> (double) Int4Quantizer.code(in.codes(), r * in.stride(), dim, c) * in.scales()[r];
        default -> throw new AssertionError(in.precision());
      };
    }
    return row;
  }

  static float[] score(Kernel k, EncodedRows in, VectorOps ops) {
    KernelOutput out = k.newOutput();
    k.score(in, out, ops);
    return java.util.Arrays.copyOf(out.scores(), in.rows() * k.width());
  }

  @Test
  void nearTiesRaiseInt4AgreementOnNearTiedEmbeddingRows() {
    // The planted embeddings heads: dense rows, Gaussian weights, 10 classes, rows near ties.
    for (long seed = 1; seed <= 3; seed++) {
      PlantedOutlierHead h = PlantedOutlierHead.embeddings(seed, 10, 384, 3000);
      LinearKernel k = LinearKernel.fromWeights(h.w(), h.bias(), PlantedOutliersTest.labels(h.classes()),
          Activation.SOFTMAX, Precision.INT4);
      double with = PlantedOutliersTest.agreement(h, k);
      double without = PlantedOutliersTest.agreement(h, k.withoutNearTies());
      System.out.printf("embeddings seed %d int4: %.4f without near-tie rescoring, %.4f with%n", seed, without, with);
      assertTrue(without < 0.99, "the rows are no longer near ties: " + without + " without rescoring");
      assertTrue(with >= 0.995, "int4 with near-tie rescoring " + with);
    }
  }

  @Test
  void theMarginIsInTheKernelItsIdAndItsNoteAndOnlyInt4AndColumnChannelInt8HeadsHaveIt() {
    SplittableRandom rnd = new SplittableRandom(4);
    float[][] w = LinearKernelTest.randomWeights(rnd, 4, 33, 1.0);
    List<String> labels = LinearKernelTest.labels(4);
    LinearKernel k = LinearKernel.fromWeights(w, new float[4], labels, Activation.SOFTMAX, Precision.INT4);
    LinearKernel back = (LinearKernel) KernelCodec.decode(KernelCodec.encode(k));
    assertEquals(NearTies.DEFAULT_MARGIN, back.nearTies().margin());
    assertTrue(k.quantizationNote().contains("near ties"), k.quantizationNote());
    LinearKernel plain = k.withoutNearTies();
    assertTrue(!KernelCodec.kernelId(KernelCodec.encode(plain)).equals(KernelCodec.kernelId(KernelCodec.encode(k))));
    assertNull(((LinearKernel) KernelCodec.decode(KernelCodec.encode(plain))).nearTies(),
        "a kernel recorded without near ties decodes without them");
    assertEquals(k.macsPerRow(), plain.macsPerRow() + 2L * 33);
    assertNull(LinearKernel.fromWeights(w, new float[4], labels, Activation.SOFTMAX, Precision.FP32).nearTies());
    assertNull(LinearKernel.fromWeights(w, new float[4], labels, Activation.SOFTMAX, Precision.INT8,
        WeightScaling.PER_CHANNEL).nearTies(), "per-channel int8 heads keep their bytes and ids");
    assertNotNull(LinearKernel.fromWeights(w, new float[4], labels, Activation.SOFTMAX, Precision.INT8,
        WeightScaling.COLUMN_CHANNEL).nearTies());
    float[][] one = {w[0]};
    assertNull(LinearKernel.fromWeights(one, new float[1], List.of("y"), Activation.LOGISTIC, Precision.INT4).nearTies(),
        "a single output has no tie to break");
  }
}
